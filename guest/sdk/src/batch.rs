//! The per-batch driver behind every [`Plugin`]: read each record, look the
//! distinct claim ids up in ONE call, enrich each record with its answer.
//!
//! It owns the "answer every input" rule: exactly one [`Output`] per record,
//! in input order. Nothing is copied per record: events borrow the records'
//! bytes, the lookup borrows the events' claim ids.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::Plugin;
use crate::claims::{Claims, Lookup, SHORT_ANSWER};
use crate::record::{Batch, Output, Record};

/// Run plugin `P` over one batch: one output per record, in order.
pub fn run<P: Plugin + ?Sized>(
    batch: &Batch,
    records: &[Record<'_>],
    claims: &mut (impl Claims + ?Sized),
) -> Vec<Output> {
    let read: Vec<Result<P::Event<'_>, Output>> =
        records.iter().map(|r| P::read(batch, r)).collect();

    // Distinct claim ids of what was read, in first-seen order.
    let mut slot_of: HashMap<&str, usize, BuildHasherDefault<FxHasher>> =
        HashMap::with_capacity_and_hasher(read.len(), BuildHasherDefault::default());
    let mut distinct: Vec<&str> = Vec::with_capacity(read.len());
    let slots: Vec<Option<usize>> = read
        .iter()
        .map(|r| {
            let id = P::claim_id(r.as_ref().ok()?)?;
            Some(*slot_of.entry(id).or_insert_with(|| {
                distinct.push(id);
                distinct.len() - 1
            }))
        })
        .collect();
    let answers = if distinct.is_empty() {
        Vec::new()
    } else {
        claims.lookup(&distinct)
    };
    drop(slot_of);
    drop(distinct);

    read.into_iter()
        .zip(slots)
        .zip(records)
        .map(|((read, slot), record)| match read {
            Err(answered) => answered,
            Ok(event) => {
                let lookup = match slot {
                    None => Lookup::NotAsked,
                    Some(s) => answers
                        .get(s)
                        .map_or(Lookup::Unavailable(SHORT_ANSWER), Lookup::from),
                };
                P::enrich(batch, record, event, lookup)
            }
        })
        .collect()
}

/// The multiply-rotate hash of rustc (FxHash): claim ids come from the batch
/// itself, so there is no flooding to defend against, and SipHash costs more
/// than the rest of the de-duplication.
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let word = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::Answer;
    use crate::testing::{ClaimsStub, process};

    /// Payload = claim id; `-` = no lookup; `!` = bad input.
    struct Probe;

    impl Plugin for Probe {
        const NAME: &'static str = "probe";
        const VERSION: &'static str = "0.0.1";
        type Event<'a> = &'a str;

        fn read<'a>(_: &Batch, record: &Record<'a>) -> Result<&'a str, Output> {
            match std::str::from_utf8(record.value) {
                Ok("!") | Err(_) => Err(Output::failed("INVALID_EVENT", "bad")),
                Ok(id) => Ok(id),
            }
        }

        fn claim_id<'e>(id: &'e &str) -> Option<&'e str> {
            (*id != "-").then_some(*id)
        }

        fn enrich(_: &Batch, _: &Record<'_>, id: &str, claim: Lookup<'_>) -> Output {
            let what = match claim {
                Lookup::Found(c) => format!("{id}:{}", c.member_id),
                Lookup::NotFound => format!("{id}:not-found"),
                Lookup::Unavailable(why) => format!("{id}:down:{why}"),
                Lookup::Timeout(why) => format!("{id}:slow:{why}"),
                Lookup::NotAsked => format!("{id}:not-asked"),
            };
            Output::enriched(what)
        }
    }

    fn values(out: &[Output]) -> Vec<String> {
        out.iter()
            .map(|o| String::from_utf8_lossy(o.value()).into_owned())
            .collect()
    }

    #[test]
    fn one_lookup_of_the_distinct_ids_and_every_record_answered_in_order() {
        let mut claims = ClaimsStub::new()
            .claim("A", "M1", "1.00")
            .timeout("S", "50 ms");
        let out = process::<Probe>(0, &[b"A", b"B", b"!", b"A", b"-", b"S"], &mut claims);
        assert_eq!(
            values(&out),
            [
                "A:M1",
                "B:not-found",
                "bad",
                "A:M1",
                "-:not-asked",
                "S:slow:50 ms"
            ]
        );
        assert_eq!(out[2].status(), "INVALID_EVENT");
        assert_eq!(claims.calls(), [vec!["A", "B", "S"]]);
    }

    #[test]
    fn no_lookup_call_when_nothing_asks() {
        let mut claims = ClaimsStub::new();
        let out = process::<Probe>(0, &[b"!", b"-"], &mut claims);
        assert_eq!(out.len(), 2);
        assert!(claims.calls().is_empty());
    }

    #[test]
    fn a_short_host_answer_is_an_outage_not_a_panic() {
        struct Short;
        impl Claims for Short {
            fn lookup(&mut self, _: &[&str]) -> Vec<Answer> {
                vec![Answer::NotFound]
            }
        }
        let out = process::<Probe>(0, &[b"A", b"B"], &mut Short);
        assert_eq!(values(&out)[0], "A:not-found");
        assert!(values(&out)[1].starts_with("B:down:claims lookup returned fewer"));
    }

    #[test]
    fn config_and_logs_are_per_thread_in_native_tests() {
        crate::testing::set_config("threshold", "10");
        assert_eq!(crate::config::get("threshold").as_deref(), Some("10"));
        assert_eq!(crate::config::get("other"), None);
        crate::testing::clear_config();
        assert_eq!(crate::config::get("threshold"), None);
        crate::log::warn("careful");
        assert_eq!(
            crate::testing::take_logs(),
            [(crate::log::Level::Warn, "careful".to_owned())]
        );
    }
}
