#!/usr/bin/env python3
"""The largest function bodies of a wasm module, with their names: what V8 compiles again, with
its optimizing tier, once a function is hot (docs/PERFORMANCE.md, "What V8 does with the wasm,
by function").

  python3 scripts/wasm-functions.py WASM [N]

Names come from the module's name section: build with KEEP_NAMES=1 (scripts/build-worker.sh
strips them otherwise). A function's index is the one V8 prints (`--trace-wasm-compilation-times`).
"""
import sys


def leb(data, i):
    result = shift = 0
    while True:
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, i


def functions(data):
    """(body size, index, name) of every function defined in the module."""
    i, imported, bodies, names = 8, 0, [], {}
    while i < len(data):
        section, i = data[i], i + 1
        size, i = leb(data, i)
        end = i + size
        if section == 2:  # imports: functions among them come first in the index space
            count, j = leb(data, i)
            for _ in range(count):
                for _ in range(2):  # module and field names
                    length, j = leb(data, j)
                    j += length
                kind, j = data[j], j + 1
                if kind == 0:
                    _, j = leb(data, j)
                    imported += 1
                elif kind in (1, 2):  # table (reference type first), memory: limits
                    j += kind == 1
                    flags, j = leb(data, j)
                    _, j = leb(data, j)
                    if flags & 1:
                        _, j = leb(data, j)
                elif kind == 3:  # global: type, mutability
                    j += 2
                elif kind == 4:  # tag: attribute, type index
                    j += 1
                    _, j = leb(data, j)
        elif section == 10:
            count, j = leb(data, i)
            for k in range(count):
                body, j = leb(data, j)
                bodies.append((body, imported + k))
                j += body
        elif section == 0:
            length, j = leb(data, i)
            if data[j:j + length] == b"name":
                j += length
                while j < end:
                    sub, j = data[j], j + 1
                    sub_size, j = leb(data, j)
                    if sub == 1:
                        count, k = leb(data, j)
                        for _ in range(count):
                            index, k = leb(data, k)
                            length, k = leb(data, k)
                            names[index] = data[k:k + length].decode("utf8", "replace")
                            k += length
                    j += sub_size
        i = end
    return [(body, index, names.get(index, "?")) for body, index in bodies]


if __name__ == "__main__":
    found = sorted(functions(open(sys.argv[1], "rb").read()), reverse=True)
    print(f"{len(found)} functions, {sum(f[0] for f in found)} bytes of bodies")
    for body, index, name in found[: int(sys.argv[2]) if len(sys.argv) > 2 else 30]:
        print(f"{body:8d}  #{index:<5d} {name[:140]}")
