//! The per-batch driver behind every [`Plugin`]: read each record, look the
//! distinct claim ids up in ONE call, enrich each record with its answer.
//!
//! It owns the "answer every input" rule: exactly one [`Output`] per record,
//! in input order. Nothing is copied per record: events borrow the records'
//! bytes, the lookup borrows the events' claim ids.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::claims::{Claims, Lookup, SHORT_ANSWER};
use crate::record::{Batch, Output, Record};
use crate::Plugin;

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
