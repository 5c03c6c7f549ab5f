//! Replays the fuzz corpora on stable `cargo test`: every file in `fuzz/corpus/<target>/` (the
//! minimized corpus `scripts/fuzz.sh` leaves) and `fuzz/seeds/<target>/` (hand-made cases) goes
//! through the same code as the cargo-fuzz target, `fuzz/targets.rs`, included here as is.
//!
//! A missing or empty corpus fails: a replay of nothing is no test.

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

mod targets {
    include!(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/targets.rs"));
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of one folder, sorted; `None` when the folder does not exist.
fn files_in(dir: &Path) -> Option<Vec<PathBuf>> {
    let entries = fs::read_dir(dir).ok()?;
    let mut files: Vec<PathBuf> = entries
        .map(|e| {
            e.unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .path()
        })
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Some(files)
}

/// Runs `run` on every input and reports every failing file, not just the first.
fn replay(name: &str, inputs: Vec<(String, Vec<u8>)>, run: fn(&[u8])) {
    let mut failed = Vec::new();
    for (label, data) in &inputs {
        if catch_unwind(AssertUnwindSafe(|| run(data))).is_err() {
            failed.push(label.clone());
        }
    }
    assert!(
        failed.is_empty(),
        "{name}: {} of {} inputs fail (the panic of each is printed above): {failed:#?}",
        failed.len(),
        inputs.len()
    );
}

fn read_all(files: &[PathBuf]) -> Vec<(String, Vec<u8>)> {
    files
        .iter()
        .map(|p| {
            let data = fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.display().to_string(), data)
        })
        .collect()
}

fn replay_target(target: &str, run: fn(&[u8])) {
    let corpus = fuzz_dir().join("corpus").join(target);
    let files = files_in(&corpus).unwrap_or_else(|| {
        panic!(
            "{}: no corpus. It is kept in the repository; scripts/fuzz.sh rebuilds it.",
            corpus.display()
        )
    });
    assert!(
        !files.is_empty(),
        "{}: the corpus is empty. Run scripts/fuzz.sh to rebuild it.",
        corpus.display()
    );
    let seeds = fuzz_dir().join("seeds").join(target);
    let seed_files = files_in(&seeds).unwrap_or_default();
    replay(target, read_all(&files), run);
    replay(target, read_all(&seed_files), run);
    eprintln!(
        "{target}: replayed {} corpus files and {} seeds",
        files.len(),
        seed_files.len()
    );
}

#[test]
fn verify_parse_corpus() {
    replay_target("verify_parse", targets::verify_parse);
}

#[test]
fn decode_render_corpus() {
    replay_target("decode_render", targets::decode_render);
}

/// The samples themselves, signed with one secret and with a rotation list, through the
/// `verify_parse` target, and every message they produce through `decode_render`.
#[test]
fn samples_pass_both_targets() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples");
    let samples = files_in(&dir).unwrap_or_else(|| panic!("{}: missing", dir.display()));
    let samples: Vec<PathBuf> = samples
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    assert!(!samples.is_empty(), "{}: no samples", dir.display());
    let mut messages = 0;
    for path in &samples {
        let body = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let body = body.trim_ascii_end();
        for secret in ["whsec_test_only_secret", "old-secret, whsec_new\nthird"] {
            targets::verify_parse(&targets::join_verify_input(secret, body));
        }
        if let Ok(shared::contract::calcom::envelope::Delivery::Booking(message)) =
            shared::contract::calcom::envelope::parse_delivery(body, targets::RECEIVED_AT)
        {
            targets::decode_render(message.to_json().as_bytes());
            messages += 1;
        }
    }
    assert!(messages >= 4, "only {messages} samples are bookings");
}
