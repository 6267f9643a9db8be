//! Which committed outputs would exist on a broker that hides aborted records.
//!
//! The host reads its own topics back (the retry topic; `failed-payments` in
//! `redrive`) with `read_committed`. The transactional test broker (Tansu)
//! hands those readers aborted records too, so a payment whose first try was
//! rolled back by a crash can come back twice: once from the input, once from
//! the aborted retry record. Apache Kafka never shows that record, so that
//! second output would not exist there.
//!
//! Every output names its transaction (`commit-unit`) and, when it was made
//! from one of the host's own records, that record's transaction
//! (`original-commit-unit`). An output counts only if its whole lineage is
//! committed: its parent (the record with its payment id and that commit
//! unit) counts, and no parent gives more children than it has counted
//! copies. What is set aside is returned, so a test can say how much. A
//! record made into more outputs than it has committed copies fails the
//! check outright: that is the host's duplicate, not the broker's leak.
//! What stays unprovable here: when a leaked copy and a good copy of one
//! record share a transaction, which of the two the host read; when their
//! outputs went to different topics, the payment is named in `ambiguous`.

use std::collections::{BTreeMap, BTreeSet};

use super::raw_log::{Log, LogRecord};

pub const COMMIT_UNIT: &str = "commit-unit";
pub const ORIGINAL_COMMIT_UNIT: &str = "original-commit-unit";

/// The host's output topics whose records may be read back by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Topic {
    Enriched,
    Failed,
    Retry,
}

pub fn header<'a>(r: &'a LogRecord, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.as_deref())
        .map(|v| std::str::from_utf8(v).expect("UTF-8 header"))
}

pub fn payment_id(r: &LogRecord) -> String {
    let value = r.value.as_deref().expect("a value");
    let v: serde_json::Value = serde_json::from_slice(value).expect("JSON output");
    v["payment_id"].as_str().expect("payment_id").to_owned()
}

struct Node<'a> {
    topic: Topic,
    record: &'a LogRecord,
    /// (payment id, commit unit): what its children name.
    key: (String, String),
    /// (payment id, original commit unit), if it was made from a host record.
    parent: Option<(String, String)>,
}

/// The committed outputs whose lineage is committed, and those set aside.
pub struct Counted<'a> {
    pub valid: Vec<(Topic, &'a LogRecord)>,
    pub set_aside: Vec<(Topic, &'a LogRecord)>,
    /// Payments with a leaked and a good copy of one record in one
    /// transaction whose outputs went to different topics: which output came
    /// from the good copy cannot be known.
    pub ambiguous: BTreeSet<String>,
}

pub fn count<'a>(logs: &[(Topic, &'a Log)]) -> Counted<'a> {
    let mut nodes = Vec::new();
    for (topic, log) in logs {
        for record in log.committed() {
            let id = payment_id(record);
            let unit = header(record, COMMIT_UNIT)
                .unwrap_or_else(|| panic!("a {topic:?} record without {COMMIT_UNIT}"));
            nodes.push(Node {
                topic: *topic,
                record,
                key: (id.clone(), unit.to_owned()),
                parent: header(record, ORIGINAL_COMMIT_UNIT).map(|u| (id, u.to_owned())),
            });
        }
    }
    let mut children: BTreeMap<&(String, String), Vec<usize>> = BTreeMap::new();
    let mut holders: BTreeMap<&(String, String), Vec<usize>> = BTreeMap::new();
    for (i, n) in nodes.iter().enumerate() {
        // Only what the host reads back can be a parent.
        if n.topic != Topic::Enriched {
            holders.entry(&n.key).or_default().push(i);
        }
        if let Some(p) = &n.parent {
            children.entry(p).or_default().push(i);
        }
    }
    let mut walk = Walk {
        nodes: &nodes,
        children: &children,
        holders: &holders,
        supply: BTreeMap::new(),
        open: BTreeSet::new(),
        ambiguous: BTreeSet::new(),
    };
    let mut valid = Vec::new();
    let mut set_aside = Vec::new();
    for i in 0..nodes.len() {
        let n = &nodes[i];
        let keep = match &n.parent {
            None => true,
            Some(p) => walk.chosen(p).contains(&i),
        };
        if keep {
            valid.push((n.topic, n.record));
        } else {
            set_aside.push((n.topic, n.record));
        }
    }
    Counted {
        valid,
        set_aside,
        ambiguous: walk.ambiguous,
    }
}

struct Walk<'n, 'a> {
    nodes: &'n [Node<'a>],
    children: &'n BTreeMap<&'n (String, String), Vec<usize>>,
    holders: &'n BTreeMap<&'n (String, String), Vec<usize>>,
    /// Counted copies of each (payment id, commit unit).
    supply: BTreeMap<(String, String), usize>,
    /// Keys being counted now (a loop would be a broken lineage).
    open: BTreeSet<(String, String)>,
    /// Payments whose counted outputs cannot be told apart (see `chosen`).
    ambiguous: BTreeSet<String>,
}

impl Walk<'_, '_> {
    /// The children of `parent` that count: all of them if it has enough
    /// counted copies, else as many as it has (on one topic, so which ones
    /// does not change a count).
    fn chosen(&mut self, parent: &(String, String)) -> Vec<usize> {
        let kids = self.children.get(parent).cloned().unwrap_or_default();
        // More outputs than committed copies of their record is the host's
        // duplicate, whatever the copies' own lineage: never set aside.
        let copies = self.holders.get(parent).map_or(0, Vec::len);
        assert!(
            copies == 0 || kids.len() <= copies,
            "{parent:?}: {} outputs made from {copies} committed copies",
            kids.len()
        );
        let supply = self.supply(parent);
        if kids.len() <= supply {
            return kids;
        }
        // Children of copies alike (same payment, same transaction) cannot
        // be told apart; which ones count matters only if their topics differ:
        // then the payment is named, for the caller to check no more than
        // that it was not lost.
        let topics: BTreeSet<Topic> = kids.iter().map(|&i| self.nodes[i].topic).collect();
        if topics.len() > 1 && supply > 0 {
            self.ambiguous.insert(parent.0.clone());
        }
        kids.into_iter().take(supply).collect()
    }

    fn supply(&mut self, key: &(String, String)) -> usize {
        if let Some(&n) = self.supply.get(key) {
            return n;
        }
        assert!(self.open.insert(key.clone()), "a lineage loop at {key:?}");
        let held = self.holders.get(key).cloned().unwrap_or_default();
        let mut counted = 0;
        for i in held {
            let keep = match self.nodes[i].parent.clone() {
                None => true,
                Some(p) => self.chosen(&p).contains(&i),
            };
            counted += usize::from(keep);
        }
        self.open.remove(key);
        self.supply.insert(key.clone(), counted);
        counted
    }
}
