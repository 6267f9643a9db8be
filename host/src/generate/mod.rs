//! Realistic payment events (JSON lines) and the matching claims file (CSV),
//! for demos and load tests. Everything is derived from a seed with a seeded
//! PRNG (`fastrand`), so the same options always give the same bytes. A claim's
//! attributes depend only on `(seed, k)`, so events can pay a claim's real
//! amount without the claims set being held in memory.

use std::io;
use std::time::Duration;

mod claims_file;
mod events;
mod random;

pub use claims_file::write_claims_csv;
pub use events::write_events;

/// What to generate: how many events, how fast, and how they should look.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// A fixed number of events; takes precedence over `run_duration`.
    pub count: Option<u64>,
    /// With `events_per_second`: `count = rate * duration`. Alone: write as
    /// fast as possible until the duration has passed.
    pub run_duration: Option<Duration>,
    /// Real-time pacing; `None` = as fast as possible.
    pub events_per_second: Option<f64>,
    /// Among well-formed events, the fraction whose claim exists (0..=1).
    pub valid_claim_rate: f64,
    /// Fraction of events that are malformed in some realistic way (0..=1).
    pub invalid_rate: f64,
    /// Number of distinct claims in the claims set.
    pub claims: u64,
    pub seed: u64,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            count: None,
            run_duration: None,
            events_per_second: None,
            valid_claim_rate: 0.9,
            invalid_rate: 0.0,
            claims: 10_000,
            seed: 0,
        }
    }
}

/// What `write_events` wrote. `valid_claim + unknown_claim + invalid == events`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GenerateSummary {
    pub events: u64,
    pub valid_claim: u64,
    pub unknown_claim: u64,
    pub invalid: u64,
}

/// The id of the `n`th claim of a claims set, e.g. `CLM-0000042`.
pub fn claim_id(n: u64) -> String {
    format!("CLM-{n:07}")
}

/// The number of events to write, or `None` to write until `run_duration` has passed.
fn planned_events(opts: &GenerateOptions) -> io::Result<Option<u64>> {
    let invalid = |message: &str| {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            message.to_string(),
        ))
    };
    if !(0.0..=1.0).contains(&opts.valid_claim_rate) || !(0.0..=1.0).contains(&opts.invalid_rate) {
        return invalid("valid_claim_rate and invalid_rate must be between 0 and 1");
    }
    if let Some(rate) = opts.events_per_second
        && !(rate.is_finite() && rate > 0.0)
    {
        return invalid("events_per_second must be a positive number");
    }
    match (opts.count, opts.run_duration, opts.events_per_second) {
        (Some(count), _, _) => Ok(Some(count)),
        (None, Some(duration), Some(rate)) => {
            Ok(Some((rate * duration.as_secs_f64()).round() as u64))
        }
        (None, Some(_), None) => Ok(None),
        (None, None, _) => invalid("give a count of events or a run duration"),
    }
}

#[cfg(test)]
mod tests {
    use super::events::tests::{events, options};
    use super::*;
    use std::time::Instant;

    #[test]
    fn claim_ids_are_zero_padded() {
        assert_eq!(claim_id(42), "CLM-0000042");
        assert_eq!(claim_id(12_345_678), "CLM-12345678");
    }

    #[test]
    fn options_are_checked_and_resolved() {
        let mut sink = Vec::new();
        let none = GenerateOptions::default();
        assert!(
            write_events(&mut sink, &none).is_err(),
            "no count, no duration"
        );
        assert!(
            write_events(
                &mut sink,
                &GenerateOptions {
                    invalid_rate: 1.5,
                    ..options(1, 0.0)
                }
            )
            .is_err()
        );
        assert!(
            write_events(
                &mut sink,
                &GenerateOptions {
                    events_per_second: Some(0.0),
                    ..options(1, 0.0)
                }
            )
            .is_err()
        );
        let timed = GenerateOptions {
            run_duration: Some(Duration::from_millis(50)),
            events_per_second: Some(1_000.0),
            ..GenerateOptions::default()
        };
        assert_eq!(planned_events(&timed).expect("plan"), Some(50));
    }

    #[test]
    fn pacing_respects_the_rate() {
        let opts = GenerateOptions {
            events_per_second: Some(400.0),
            ..options(100, 0.0)
        };
        let started = Instant::now();
        let (_, summary) = events(&opts);
        assert_eq!(summary.events, 100);
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn duration_alone_writes_until_time_is_up() {
        let opts = GenerateOptions {
            run_duration: Some(Duration::from_millis(30)),
            ..GenerateOptions::default()
        };
        let started = Instant::now();
        let (_, summary) = events(&opts);
        assert!(summary.events > 0);
        assert!(started.elapsed() >= Duration::from_millis(30));
    }
}
