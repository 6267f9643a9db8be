//! What the outputs must hold at the end, counted from the broker's commit
//! and abort markers and the outputs' lineage; and the control that shows
//! the count could tell an at-least-once host apart.

use std::collections::{BTreeMap, BTreeSet};

use crate::story::{EVENTS, Story};
use crate::support::lineage::{self, Topic, payment_id};
use crate::support::raw_log::{Log, LogRecord};

pub fn header<'a>(r: &'a LogRecord, name: &str) -> &'a str {
    lineage::header(r, name).unwrap_or("")
}

pub fn counts<'a>(records: impl IntoIterator<Item = &'a LogRecord>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in records {
        *counts.entry(payment_id(r)).or_insert(0) += 1;
    }
    counts
}

/// Where the committed copies of `id` are: partition, offset, producer id and
/// epoch, and the retry attempt that made each.
fn copies(log: &Log, id: &str) -> Vec<(i32, i64, i64, i16, i32, String)> {
    log.committed()
        .into_iter()
        .filter(|r| payment_id(r) == id)
        .map(|r| {
            let attempt = header(r, "retry-attempt").to_owned();
            (
                r.partition,
                r.offset,
                r.producer_id,
                r.producer_epoch,
                r.sequence,
                attempt,
            )
        })
        .collect()
}

/// The ids that appear more than once.
pub fn twice(counts: &BTreeMap<String, usize>) -> Vec<&String> {
    counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id)
        .collect()
}

/// Every input id once on enriched, failed at most once and only if it was
/// re-driven (`to_redrive`), each retry attempt once; and the control.
pub fn every_payment_once(story: &Story, to_redrive: &BTreeSet<String>) {
    let input = story.log(0);
    let enriched = story.log(1);
    let failed = story.log(2);
    let retry = story.log(3);
    let counted = lineage::count(&[
        (Topic::Enriched, &enriched),
        (Topic::Failed, &failed),
        (Topic::Retry, &retry),
    ]);
    let of = |topic: Topic| {
        counted
            .valid
            .iter()
            .filter(move |(t, _)| *t == topic)
            .map(|(_, r)| *r)
    };
    let enriched_counts = counts(of(Topic::Enriched));
    let failed_counts = counts(of(Topic::Failed));
    let input_counts = counts(input.committed());
    assert!(
        input_counts.len() as u64 == EVENTS && twice(&input_counts).is_empty(),
        "the input holds each id once"
    );
    let lost: Vec<&String> = input_counts
        .keys()
        .filter(|id| !enriched_counts.contains_key(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} ids never enriched, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert_eq!(
        enriched_counts.len(),
        input_counts.len(),
        "nothing but the input on enriched"
    );
    // Payments whose lineage cannot be told apart (lineage.rs) are checked
    // for loss only; they are few, and counted.
    let ambiguous = &counted.ambiguous;
    assert!(
        ambiguous.len() <= 50,
        "{} ambiguous payments",
        ambiguous.len()
    );
    let exact = |counts: &BTreeMap<String, usize>| -> Vec<String> {
        twice(counts)
            .into_iter()
            .filter(|id| !ambiguous.contains(*id))
            .cloned()
            .collect()
    };
    let doubled = exact(&enriched_counts);
    assert!(
        doubled.is_empty(),
        "{} ids enriched twice, e.g. {:?}; the copies of the first: {:?}",
        doubled.len(),
        &doubled[..doubled.len().min(5)],
        copies(&enriched, doubled.first().map_or("", |id| id.as_str()))
    );
    let doubled = exact(&failed_counts);
    assert!(
        doubled.is_empty(),
        "{} ids failed twice, e.g. {:?}; the copies of the first: {:?}",
        doubled.len(),
        &doubled[..doubled.len().min(5)],
        copies(&failed, doubled.first().map_or("", |id| id.as_str()))
    );
    let failed_ids: BTreeSet<String> = failed_counts
        .keys()
        .filter(|id| !ambiguous.contains(*id))
        .cloned()
        .collect();
    let redriven: BTreeSet<String> = to_redrive
        .iter()
        .filter(|id| !ambiguous.contains(*id))
        .cloned()
        .collect();
    assert_eq!(failed_ids, redriven, "the redrive failed nothing again");
    let mut attempts = BTreeMap::new();
    for r in of(Topic::Retry) {
        let key = (payment_id(r), header(r, "retry-attempt").to_owned());
        *attempts.entry(key).or_insert(0usize) += 1;
    }
    let repeated: Vec<_> = attempts
        .iter()
        .filter(|((id, _), n)| **n > 1 && !ambiguous.contains(id))
        .collect();
    assert!(!attempts.is_empty(), "the retry path was taken");
    assert!(repeated.is_empty(), "a retry attempt twice: {repeated:?}");

    // The control: the kills left records no commit covers, and counting the
    // whole log (what an at-least-once reader gets) finds ids twice.
    let uncommitted = [&enriched, &failed, &retry]
        .iter()
        .map(|log| log.aborted().len() + log.open().len())
        .sum::<usize>();
    let all_counts = counts(enriched.records.iter());
    let aside = |topic: Topic| {
        counted
            .set_aside
            .iter()
            .filter(|(t, _)| *t == topic)
            .count()
    };
    eprintln!(
        "{uncommitted} records of aborted or unended transactions; {} ids twice in the whole \
         log; {} committed outputs set aside, made from aborted records Tansu handed the host \
         ({} enriched, {} failed, {} retry); {} payments checked for loss only (ambiguous)",
        twice(&all_counts).len(),
        counted.set_aside.len(),
        aside(Topic::Enriched),
        aside(Topic::Failed),
        aside(Topic::Retry),
        ambiguous.len(),
    );
    assert!(uncommitted > 0, "no kill landed inside a transaction");
    assert!(
        !twice(&all_counts).is_empty(),
        "the whole log holds no id twice: the check above could not tell"
    );
}
