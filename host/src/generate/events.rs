//! Payment events as JSON lines: well-formed ones that pay known or unknown
//! claims, malformed ones cycling through realistic breakage, and pacing.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use super::claims_file::{claim_amount_cents, claim_attributes};
use super::random::{Rng, random_datetime_in};
use super::{GenerateOptions, GenerateSummary, planned_events};

/// How a malformed event is broken; invalid events cycle through these in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Breakage {
    TruncatedJson,
    MissingClaimId,
    AmountNotANumber,
    AmountThreeDecimals,
    ImpossibleDate,
}

const BREAKAGES: [Breakage; 5] = [
    Breakage::TruncatedJson,
    Breakage::MissingClaimId,
    Breakage::AmountNotANumber,
    Breakage::AmountThreeDecimals,
    Breakage::ImpossibleDate,
];

/// Payment method, the processors that handle it, and how often it is used.
const PAYMENT_METHODS: [(&str, &[&str]); 4] = [
    ("ELECTRONIC", &["PROC-EFT-001", "PROC-EFT-002"]),
    ("CHECK", &["PROC-CHK-001"]),
    ("CARD", &["PROC-VISA-001", "PROC-MC-002", "PROC-AMEX-003"]),
    ("ACH", &["PROC-ACH-001", "PROC-ACH-002"]),
];
const PAYMENT_METHOD_WEIGHTS: [u64; 4] = [40, 10, 25, 25];
const PAYMENT_STATUSES: [&str; 4] = ["COMPLETED", "PENDING", "FAILED", "REVERSED"];
const PAYMENT_STATUS_WEIGHTS: [u64; 4] = [85, 8, 4, 3];

/// Writes one event per line: `payment_id`, `claim_id`, `payment_amount`
/// (two decimals), `payment_date`, `processor_id`, `payment_method`,
/// `payment_status`. Deterministic for a seed: same options -> same bytes
/// (only a duration without a rate makes the count depend on the clock).
/// With `events_per_second`, `out` is flushed before each pause.
pub fn write_events(out: &mut impl Write, opts: &GenerateOptions) -> io::Result<GenerateSummary> {
    let planned = planned_events(opts)?;
    let mut rng = Rng::new(opts.seed);
    let mut summary = GenerateSummary::default();
    let mut line = Vec::with_capacity(256);
    let started = Instant::now();
    // About a hundred pacing checks per second, at most one per 1000 events.
    let pacing_batch = opts
        .events_per_second
        .map(|rate| (rate / 100.0).clamp(1.0, 1000.0) as u64);
    loop {
        let n = summary.events;
        match planned {
            Some(count) if n >= count => break,
            None if n % 1024 == 0
                && opts
                    .run_duration
                    .is_some_and(|limit| started.elapsed() >= limit) =>
            {
                break;
            }
            _ => {}
        }
        if let (Some(rate), Some(batch)) = (opts.events_per_second, pacing_batch)
            && n % batch == 0
        {
            let due = started + Duration::from_secs_f64(n as f64 / rate);
            let now = Instant::now();
            if due > now {
                out.flush()?;
                std::thread::sleep(due - now);
            }
        }
        line.clear();
        if rng.unit() < opts.invalid_rate {
            let breakage = BREAKAGES[(summary.invalid % BREAKAGES.len() as u64) as usize];
            write_event(&mut line, &mut rng, opts, n, Some(breakage))?;
            summary.invalid += 1;
        } else if write_event(&mut line, &mut rng, opts, n, None)? {
            summary.valid_claim += 1;
        } else {
            summary.unknown_claim += 1;
        }
        line.push(b'\n');
        out.write_all(&line)?;
        summary.events += 1;
    }
    Ok(summary)
}

/// Writes event number `n` (without newline) into `line`; returns whether
/// its claim exists in the claims set.
fn write_event(
    line: &mut Vec<u8>,
    rng: &mut Rng,
    opts: &GenerateOptions,
    n: u64,
    breakage: Option<Breakage>,
) -> io::Result<bool> {
    let known_claim = opts.claims > 0 && rng.unit() < opts.valid_claim_rate;
    write!(line, "{{\"payment_id\":\"PAY-{}-{n:08}\"", opts.seed)?;
    let amount_cents = if known_claim {
        let claim_index = rng.below(opts.claims);
        if breakage != Some(Breakage::MissingClaimId) {
            write!(line, ",\"claim_id\":\"CLM-{claim_index:07}\"")?;
        }
        let claim_cents = claim_attributes(opts.seed, claim_index, opts.claims).amount_cents;
        // Mostly paid in full, sometimes in part, rarely overpaid.
        match rng.weighted(&[75, 18, 4, 3]) {
            0 => claim_cents,
            1 => claim_cents * (10 + rng.below(81) as i64) / 100,
            2 => claim_cents * (110 + rng.below(41) as i64) / 100,
            _ => 1 + rng.below(2_000) as i64,
        }
    } else {
        let unknown = rng.below(10_000_000);
        if breakage != Some(Breakage::MissingClaimId) {
            write!(line, ",\"claim_id\":\"CLM-X-{unknown:07}\"")?;
        }
        claim_amount_cents(rng)
    };
    match breakage {
        Some(Breakage::AmountNotANumber) => line.extend_from_slice(b",\"payment_amount\":\"abc\""),
        Some(Breakage::AmountThreeDecimals) => write!(
            line,
            ",\"payment_amount\":{}.{:02}{}",
            amount_cents / 100,
            amount_cents % 100,
            1 + rng.below(9)
        )?,
        _ => write!(
            line,
            ",\"payment_amount\":{}.{:02}",
            amount_cents / 100,
            amount_cents % 100
        )?,
    }
    let at = random_datetime_in(rng, 2024);
    if breakage == Some(Breakage::ImpossibleDate) {
        line.extend_from_slice(b",\"payment_date\":\"2024-02-30T00:00:00\"");
    } else {
        write!(
            line,
            ",\"payment_date\":\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}\"",
            at.year, at.month, at.day, at.hour, at.minute, at.second
        )?;
    }
    let (method, processors) = PAYMENT_METHODS[rng.weighted(&PAYMENT_METHOD_WEIGHTS)];
    let processor = processors[rng.below(processors.len() as u64) as usize];
    let status = PAYMENT_STATUSES[rng.weighted(&PAYMENT_STATUS_WEIGHTS)];
    write!(
        line,
        ",\"processor_id\":\"{processor}\",\"payment_method\":\"{method}\",\"payment_status\":\"{status}\"}}"
    )?;
    if breakage == Some(Breakage::TruncatedJson) {
        // Cut mid-object: never valid JSON, never empty.
        line.truncate(line.len() / 2);
    }
    Ok(known_claim)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::generate::write_claims_csv;
    use std::collections::HashSet;

    pub(in crate::generate) fn events(opts: &GenerateOptions) -> (String, GenerateSummary) {
        let mut out = Vec::new();
        let summary = write_events(&mut out, opts).expect("write events");
        (String::from_utf8(out).expect("utf8"), summary)
    }

    pub(in crate::generate) fn options(count: u64, invalid_rate: f64) -> GenerateOptions {
        GenerateOptions {
            count: Some(count),
            invalid_rate,
            claims: 1_000,
            seed: 11,
            ..GenerateOptions::default()
        }
    }

    /// The `payment_amount` of an event line exactly as written.
    fn amount_text(line: &str) -> Option<&str> {
        line.split("\"payment_amount\":").nth(1)?.split(',').next()
    }

    #[test]
    fn well_formed_events_have_exactly_the_expected_fields() {
        let (text, summary) = events(&options(5_000, 0.0));
        assert_eq!((summary.events, summary.invalid), (5_000, 0));
        assert_eq!(summary.valid_claim + summary.unknown_claim, 5_000);
        let valid_share = summary.valid_claim as f64 / 5_000.0;
        assert!((0.87..0.93).contains(&valid_share), "{valid_share}");
        let mut expected_keys = [
            "payment_id",
            "claim_id",
            "payment_amount",
            "payment_date",
            "processor_id",
            "payment_method",
            "payment_status",
        ];
        expected_keys.sort_unstable();
        let mut payment_ids = HashSet::new();
        for line in text.lines() {
            let event: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(line).expect("JSON");
            assert!(event.keys().map(String::as_str).eq(expected_keys), "{line}");
            let field = |key: &str| event[key].as_str().expect("a string").to_string();
            assert!(payment_ids.insert(field("payment_id")));
            let claim = field("claim_id");
            match claim.strip_prefix("CLM-X-") {
                Some(unknown) => assert!(unknown.parse::<u64>().is_ok()),
                None => assert!(
                    claim["CLM-".len()..]
                        .parse::<u64>()
                        .is_ok_and(|index| index < 1_000),
                    "{claim}"
                ),
            }
            let (units, cents) = amount_text(line)
                .and_then(|text| text.split_once('.'))
                .expect("decimal point");
            assert!(
                units.parse::<u64>().is_ok() && cents.len() == 2 && cents.parse::<u8>().is_ok(),
                "{line}"
            );
            let date = field("payment_date");
            assert!(
                date.len() == 19 && date.starts_with("2024-") && &date[10..11] == "T",
                "{date}"
            );
            assert!(
                ["ELECTRONIC", "CHECK", "CARD", "ACH"].contains(&field("payment_method").as_str())
            );
            assert!(field("processor_id").starts_with("PROC-"));
        }
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let (first, _) = events(&options(2_000, 0.1));
        let (second, _) = events(&options(2_000, 0.1));
        assert_eq!(first, second);
        let (other, _) = events(&GenerateOptions {
            seed: 12,
            ..options(2_000, 0.1)
        });
        assert_ne!(first, other);
    }

    #[test]
    fn invalid_events_cycle_through_every_breakage() {
        let (text, summary) = events(&options(3_000, 0.2));
        assert!(
            summary.invalid > 400 && summary.invalid < 800,
            "{summary:?}"
        );
        assert_eq!(
            summary.valid_claim + summary.unknown_claim + summary.invalid,
            3_000
        );
        let mut seen = [0u64; 5];
        for line in text.lines() {
            assert!(!line.is_empty());
            let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
                seen[0] += 1;
                continue;
            };
            let three_decimals = amount_text(line).and_then(|amount| amount.split_once('.'));
            if event.get("claim_id").is_none() {
                seen[1] += 1;
            } else if event["payment_amount"] == "abc" {
                seen[2] += 1;
            } else if three_decimals.is_some_and(|(_, cents)| cents.len() == 3) {
                seen[3] += 1;
            } else if event["payment_date"] == "2024-02-30T00:00:00" {
                seen[4] += 1;
            }
        }
        assert_eq!(seen.iter().sum::<u64>(), summary.invalid, "{seen:?}");
        assert!(
            seen.iter().all(|&kind| kind >= summary.invalid / 5),
            "{seen:?}"
        );
    }

    #[test]
    fn valid_claims_exist_in_the_claims_csv() {
        let opts = GenerateOptions {
            valid_claim_rate: 1.0,
            ..options(300, 0.0)
        };
        let (text, summary) = events(&opts);
        assert_eq!(summary.valid_claim, 300);
        let mut csv = Vec::new();
        write_claims_csv(&mut csv, opts.claims, opts.seed).expect("claims");
        let csv = String::from_utf8(csv).expect("utf8");
        let ids: HashSet<&str> = csv
            .lines()
            .skip(1)
            .filter_map(|line| line.split(',').next())
            .collect();
        for line in text.lines() {
            let event: serde_json::Value = serde_json::from_str(line).expect("json");
            assert!(ids.contains(event["claim_id"].as_str().expect("claim")));
        }
    }

    #[test]
    fn one_million_events_unpaced() {
        let mut out = io::BufWriter::new(io::sink());
        let started = Instant::now();
        let summary = write_events(&mut out, &options(1_000_000, 0.01)).expect("write");
        eprintln!(
            "generated {} events in {:?}",
            summary.events,
            started.elapsed()
        );
        assert_eq!(summary.events, 1_000_000);
    }
}
