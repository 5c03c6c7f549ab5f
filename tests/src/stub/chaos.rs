//! Seeded chaos: a stable, hash-chosen share of mail-send requests fail with a mix of faults.
//!
//! For a request carrying `custom_args.idempotency_key` = K, where `n` earlier mail-send requests
//! (since the last reset, counted by the stub) carried K:
//!
//! ```text
//! h = chaos_hash(seed, K, n)
//! if h % 100 < share_percent { faults[(h / 100) % faults.len()] } else { normal answer }
//! ```
//!
//! `chaos_hash` is FNV-1a 64 over `seed` (8 bytes LE) ‖ `len(K)` (8 bytes LE) ‖ K (UTF-8) ‖ `n`
//! (8 bytes LE), then the SplitMix64 finalizer. It uses no per-process state, so a seed replays
//! the same decisions on every run and platform, whatever order requests arrive in.

use super::faults::Fault;
use serde::{Deserialize, Serialize};

/// The chaos setting: which share of requests fail, and the faults to pick from.
///
/// JSON: `{"seed":42,"share_percent":20,"faults":[{"kind":"status","status":503}]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chaos {
    pub seed: u64,
    /// 0..=100: the share of requests (per key and attempt) that get a fault.
    pub share_percent: u32,
    /// The mix to pick from; may be empty only when `share_percent` is 0.
    pub faults: Vec<Fault>,
}

impl Chaos {
    /// `Err` with a reason when the setting cannot be used: a share above 100, no faults to pick
    /// from, or a `Status` fault that is not an error-ish final status (2xx or outside 300..=599).
    pub fn validate(&self) -> Result<(), String> {
        if self.share_percent > 100 {
            return Err(format!(
                "share_percent {} is not within 0..=100",
                self.share_percent
            ));
        }
        if self.share_percent > 0 && self.faults.is_empty() {
            return Err("faults must not be empty when share_percent > 0".to_owned());
        }
        for fault in &self.faults {
            if let Fault::Status { status, .. } = fault {
                if (200..300).contains(status) {
                    return Err(format!("chaos fault status {status}: 2xx is not a fault"));
                }
                if !(300..600).contains(status) {
                    return Err(format!(
                        "chaos fault status {status} is not within 300..=599"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The fault for the `attempt`-th (0-based) request carrying `key`, or `None` to answer
    /// normally.
    pub fn decide(&self, key: &str, attempt: u64) -> Option<Fault> {
        if self.faults.is_empty() {
            return None;
        }
        let h = chaos_hash(self.seed, key, attempt);
        if h % 100 < u64::from(self.share_percent) {
            let index = (h / 100) % self.faults.len() as u64;
            Some(self.faults[index as usize].clone())
        } else {
            None
        }
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a 64, continuing from `state` (start with the offset basis).
fn fnv1a64(mut state: u64, bytes: &[u8]) -> u64 {
    for &byte in bytes {
        state ^= u64::from(byte);
        state = state.wrapping_mul(FNV_PRIME);
    }
    state
}

/// SplitMix64's finalizer: spreads FNV's output over all 64 bits.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The stable 64-bit hash of (seed, key, attempt) that chaos decisions are made from.
pub fn chaos_hash(seed: u64, key: &str, attempt: u64) -> u64 {
    let mut h = fnv1a64(FNV_OFFSET, &seed.to_le_bytes());
    h = fnv1a64(h, &(key.len() as u64).to_le_bytes());
    h = fnv1a64(h, key.as_bytes());
    h = fnv1a64(h, &attempt.to_le_bytes());
    mix64(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> Fault {
        Fault::Status {
            status,
            retry_after: None,
        }
    }

    fn mix() -> Vec<Fault> {
        vec![
            status(500),
            status(502),
            status(503),
            Fault::Status {
                status: 429,
                retry_after: Some(1),
            },
        ]
    }

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        assert_eq!(fnv1a64(FNV_OFFSET, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(FNV_OFFSET, b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn hash_is_a_fixed_function_of_seed_key_and_attempt() {
        // Golden values: a change here changes every recorded chaos run.
        // (Cross-checked against an independent Python implementation.)
        assert_eq!(chaos_hash(0, "", 0), 0x6d68_8654_e983_4407);
        assert_eq!(chaos_hash(42, "key-1", 0), 0x7f6d_4f3a_43bb_183e);
        assert_eq!(chaos_hash(42, "key-1", 1), 0x7854_6286_75c4_1a52);
        assert_eq!(chaos_hash(7, "key-1", 0), 0x9cb7_c0fb_6cab_1544);
        // Every input matters.
        let base = chaos_hash(42, "key-1", 0);
        assert_ne!(base, chaos_hash(43, "key-1", 0));
        assert_ne!(base, chaos_hash(42, "key-2", 0));
        assert_ne!(base, chaos_hash(42, "key-1", 1));
    }

    #[test]
    fn fixed_seed_key_and_attempt_give_a_fixed_decision() {
        let chaos = Chaos {
            seed: 42,
            share_percent: 50,
            faults: mix(),
        };
        // Golden: h % 100 = 58, 2, 39, 69, 13 and (h / 100) % 4 = 1, 0, 0, 3, 2 for attempts 0..5.
        let decisions: Vec<Option<Fault>> = (0..5).map(|n| chaos.decide("key-1", n)).collect();
        assert_eq!(
            decisions,
            vec![
                None,
                Some(status(500)),
                Some(status(500)),
                None,
                Some(status(503))
            ]
        );
        // Same inputs, same answer, however often asked.
        for n in 0..5 {
            assert_eq!(chaos.decide("key-1", n), decisions[n as usize]);
        }
        // A lower share only drops faults (h % 100 < share), it never picks different ones.
        let lower = Chaos {
            share_percent: 10,
            ..chaos
        };
        let decisions: Vec<Option<Fault>> = (0..5).map(|n| lower.decide("key-1", n)).collect();
        assert_eq!(decisions, vec![None, Some(status(500)), None, None, None]);
    }

    #[test]
    fn share_is_about_right_over_10_000_keys() {
        for (seed, share) in [(1u64, 20u32), (2, 5), (3, 50), (4, 90)] {
            let chaos = Chaos {
                seed,
                share_percent: share,
                faults: mix(),
            };
            let mut per_fault = [0usize; 4];
            let mut hit = 0usize;
            for i in 0..10_000 {
                if let Some(fault) = chaos.decide(&format!("key-{i}"), 0) {
                    hit += 1;
                    per_fault[mix().iter().position(|f| *f == fault).unwrap()] += 1;
                }
            }
            let expected = 100.0 * f64::from(share);
            // Binomial σ ≤ 50 over 10,000 draws: ±250 is 5σ.
            assert!(
                (hit as f64 - expected).abs() < 250.0,
                "seed {seed} share {share}%: {hit} of 10000"
            );
            // The faults are picked about evenly from the mix.
            for count in per_fault {
                let quarter = hit as f64 / 4.0;
                assert!(
                    (count as f64 - quarter).abs() < quarter * 0.25 + 30.0,
                    "seed {seed}: {per_fault:?}"
                );
            }
        }
    }

    #[test]
    fn share_over_retries_of_one_key_is_about_right_too() {
        let chaos = Chaos {
            seed: 99,
            share_percent: 20,
            faults: mix(),
        };
        let hit = (0..10_000)
            .filter(|n| chaos.decide("one-key", *n).is_some())
            .count();
        assert!((1_750..2_250).contains(&hit), "{hit}");
    }

    #[test]
    fn zero_and_hundred_percent_are_exact() {
        let mut chaos = Chaos {
            seed: 5,
            share_percent: 0,
            faults: mix(),
        };
        assert!((0..1000).all(|i| chaos.decide(&i.to_string(), 0).is_none()));
        chaos.share_percent = 100;
        assert!((0..1000).all(|i| chaos.decide(&i.to_string(), 0).is_some()));
    }

    #[test]
    fn validation() {
        let ok = Chaos {
            seed: 1,
            share_percent: 20,
            faults: mix(),
        };
        assert_eq!(ok.validate(), Ok(()));
        let off = Chaos {
            seed: 1,
            share_percent: 0,
            faults: vec![],
        };
        assert_eq!(off.validate(), Ok(()));
        for bad in [
            Chaos {
                share_percent: 101,
                ..ok.clone()
            },
            Chaos {
                faults: vec![],
                ..ok.clone()
            },
            Chaos {
                faults: vec![status(202)],
                ..ok.clone()
            },
            Chaos {
                faults: vec![status(200)],
                ..ok.clone()
            },
            Chaos {
                faults: vec![status(600)],
                ..ok.clone()
            },
            Chaos {
                faults: vec![status(503), status(99)],
                ..ok.clone()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        assert_eq!(
            Chaos {
                faults: vec![Fault::Hang, Fault::Close, status(301)],
                ..ok
            }
            .validate(),
            Ok(())
        );
    }

    #[test]
    fn serde_shape() {
        let chaos: Chaos = serde_json::from_str(
            r#"{"seed":18446744073709551615,"share_percent":20,"faults":[{"kind":"status","status":429,"retry_after":1},{"kind":"close"}]}"#,
        )
        .unwrap();
        assert_eq!(chaos.seed, u64::MAX);
        assert_eq!(chaos.faults[1], Fault::Close);
    }
}
