#!/usr/bin/env python3
"""Sends N unique signed bookings through a pair and waits until the fake SendGrid has counted an
email for each: the load of `scripts/bench-kit.sh --instructions --pipeline`, where what is
counted is instructions, not time, so nothing here is timed.

  bench-bookings.py URL SINK_STATS_URL SECRET BODY_JSON N CONCURRENCY PREFIX

Each booking is BODY_JSON with payload.uid = PREFIX + i, signed as Cal.com signs (bare hex
HMAC-SHA256 of the raw body). A booking refused by `wrangler dev`'s proxy ("Your worker
restarted mid-request", 503, or a reset: docs/PERFORMANCE.md) is sent again, twice at most, and
the count printed; the consumer's ledger makes a repeat that had got through a duplicate, not a
second email. Exits 1 and says why when a booking is still not answered 202, or the emails do
not all arrive within 20 minutes (the pair runs under valgrind, 30-100x slower); exits 3 when
no email has arrived for 3 minutes while some are missing (the local queue stalled).
"""
import hashlib, hmac, http.client, json, os, sys, threading, time, urllib.parse, urllib.request

STALL_SECS = int(os.environ.get("BENCH_STALL_SECS", "180"))

url, stats_url, secret, body_path, n, c, prefix = sys.argv[1:8]
n, c = int(n), int(c)


def emails():
    with urllib.request.urlopen(stats_url, timeout=30) as r:
        return json.load(r)["by_status"].get("202", 0)


template = json.load(open(body_path))
bookings = []
for i in range(n):
    booking = json.loads(json.dumps(template))
    booking["payload"]["uid"] = f"{prefix}{i}"
    raw = json.dumps(booking, separators=(",", ":")).encode()
    bookings.append((raw, hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()))

target = urllib.parse.urlparse(url)
lock, next_index, refused, resent = threading.Lock(), [0], [], [0]
PROXY_RESTARTED = b"Your worker restarted mid-request"


def send():
    conn = http.client.HTTPConnection(target.hostname, target.port, timeout=600)
    while True:
        with lock:
            i = next_index[0]
            next_index[0] += 1
        if i >= n:
            return
        raw, signature = bookings[i]
        for attempt in range(3):
            try:
                conn.request("POST", target.path, raw,
                             {"Content-Type": "application/json", "X-Cal-Signature-256": signature})
                response = conn.getresponse()
                text = response.read()
                answer = None if response.status == 202 else f"{response.status} {text[:200]!r}"
                again = response.status == 503 and PROXY_RESTARTED in text
            except Exception as error:  # a connection renewed; after a reset, the booking resent
                conn.close()
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=600)
                answer, again = repr(error), isinstance(error, ConnectionError)
            if answer is None or not again or attempt == 2:
                break
            with lock:
                resent[0] += 1
        if answer is not None:
            with lock:
                refused.append(answer)


before = emails()
threads = [threading.Thread(target=send) for _ in range(c)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if refused:
    sys.exit(f"{len(refused)} of {n} bookings not accepted, first: {refused[0]}")
deadline = time.time() + 1200
progress, progress_at = emails(), time.time()
while progress < before + n:
    if time.time() > deadline:
        sys.exit(f"only {progress - before} of {n} emails arrived within 20 minutes")
    # wrangler dev's local queue has stopped handing messages to the consumer a few times
    # (docs/PERFORMANCE.md), in every kind of pair: say so after 3 minutes without an email
    # (under valgrind a pair emails several bookings a second), so that the round is run again.
    if time.time() - progress_at > STALL_SECS:
        print(f"stalled: {progress - before} of {n} emails, none for {STALL_SECS} s")
        sys.exit(3)
    time.sleep(1)
    now = emails()
    if now != progress:
        progress, progress_at = now, time.time()
print(f"{n} bookings accepted and emailed ({resent[0]} sent again after a proxy refusal)")
