//! pgoutput's row messages (Relation, Insert, Update, Delete, Truncate; the
//! transaction boundaries are the replication client's) into claim changes.
//! Columns are found by name in each Relation message, so their order and
//! extra columns do not matter. Values arrive as text (the type's output
//! function) and are checked exactly as `claims load` checks a file's fields:
//! `claim_amount` as exact decimal digits, never a float.

use std::collections::HashMap;

use enricher_parse::claims::{RawClaim, check_id, non_blank, validate_claim};
use pg_walstream::{LogicalReplicationMessage, LogicalReplicationParser, TupleData};

use crate::claims_load::Claim;

/// One change of the claims table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Change {
    Upsert(Claim),
    /// The claim with this id is gone.
    Delete(String),
}

/// A change, or why a row cannot be published (it is skipped and reported).
pub(super) type Decoded = Result<Change, String>;

/// The column positions of `claim_id`, `member_id`, `claim_amount`,
/// `claim_status`, `created_date` in a relation's tuples.
type Positions = [Option<usize>; 5];
const NAMES: [&str; 5] = [
    "claim_id",
    "member_id",
    "claim_amount",
    "claim_status",
    "created_date",
];

pub(super) struct Decoder {
    parser: LogicalReplicationParser,
    /// `(schema, table)` followed; changes of other relations are passed over.
    table: (String, String),
    /// Every relation announced so far: ours with its positions, or `None`.
    relations: HashMap<u32, Option<Positions>>,
}

impl Decoder {
    pub(super) fn new(table: &(String, String)) -> Self {
        Self {
            parser: LogicalReplicationParser::with_protocol_version(1),
            table: table.clone(),
            relations: HashMap::new(),
        }
    }

    /// Decode one pgoutput message into `out`. An error is a stream that
    /// cannot be followed (a malformed message, a change of an unannounced
    /// relation); a bad row is an `Err` item of `out`.
    pub(super) fn decode(&mut self, data: &[u8], out: &mut Vec<Decoded>) -> Result<(), String> {
        let message = self
            .parser
            .parse_wal_message(data)
            .map_err(|e| format!("a pgoutput message that cannot be read: {e}"))?
            .message;
        match message {
            LogicalReplicationMessage::Relation {
                relation_id,
                namespace,
                relation_name,
                columns,
                ..
            } => {
                let ours = *namespace == *self.table.0 && *relation_name == *self.table.1;
                let positions =
                    ours.then(|| NAMES.map(|name| columns.iter().position(|c| &*c.name == name)));
                self.relations.insert(relation_id, positions);
            }
            LogicalReplicationMessage::Insert { relation_id, tuple } => {
                if let Some(at) = self.positions(relation_id)? {
                    out.push(claim(&tuple, &at).map(Change::Upsert));
                }
            }
            LogicalReplicationMessage::Update {
                relation_id,
                old_tuple,
                new_tuple,
                ..
            } => {
                if let Some(at) = self.positions(relation_id)? {
                    let new = claim(&new_tuple, &at);
                    // A changed claim_id: the old id is gone (pgoutput sends the old key then).
                    if let (Some(old), Ok(new)) = (&old_tuple, &new)
                        && let Ok(old_id) = claim_id(old, &at)
                        && old_id != new.claim_id
                    {
                        out.push(Ok(Change::Delete(old_id)));
                    }
                    out.push(new.map(Change::Upsert));
                }
            }
            LogicalReplicationMessage::Delete {
                relation_id,
                old_tuple,
                ..
            } => {
                if let Some(at) = self.positions(relation_id)? {
                    out.push(claim_id(&old_tuple, &at).map(Change::Delete));
                }
            }
            LogicalReplicationMessage::Truncate { relation_ids, .. } => {
                for relation_id in relation_ids {
                    if self.positions(relation_id)?.is_some() {
                        out.push(Err("TRUNCATE is not published (no claim ids to delete); \
                             delete the rows instead, or resync with a new --slot"
                            .into()));
                    }
                }
            }
            // Types, origins, logical messages: nothing to publish.
            _ => {}
        }
        Ok(())
    }

    fn positions(&self, relation_id: u32) -> Result<Option<Positions>, String> {
        self.relations.get(&relation_id).copied().ok_or_else(|| {
            format!("a change of relation {relation_id}, which the stream never described")
        })
    }
}

/// Column `at` of `tuple` as text (`None`: absent or NULL).
fn text<'t>(
    tuple: &'t TupleData,
    at: Option<usize>,
    name: &str,
) -> Result<Option<&'t str>, String> {
    let Some(column) = at.and_then(|i| tuple.get_column(i)) else {
        return Ok(None);
    };
    match column.data_type {
        b'n' => Ok(None),
        b't' => std::str::from_utf8(column.as_bytes())
            .map(Some)
            .map_err(|_| format!("{name} is not UTF-8")),
        b'u' => Err(format!(
            "{name} arrived as an unchanged TOASTed value (ALTER TABLE ... REPLICA IDENTITY FULL sends it)"
        )),
        other => Err(format!(
            "{name} arrived in format {:?}, not text",
            other as char
        )),
    }
}

fn claim(tuple: &TupleData, at: &Positions) -> Result<Claim, String> {
    let raw = RawClaim {
        claim_id: text(tuple, at[0], NAMES[0])?,
        member_id: text(tuple, at[1], NAMES[1])?,
        claim_amount: text(tuple, at[2], NAMES[2])?,
        claim_status: text(tuple, at[3], NAMES[3])?,
        created_date: text(tuple, at[4], NAMES[4])?,
    };
    let id = raw.claim_id.unwrap_or("");
    validate_claim(&raw)
        .map(|row| Claim::from(&row))
        .map_err(|why| format!("claim {id:?}: {why}"))
}

fn claim_id(tuple: &TupleData, at: &Positions) -> Result<String, String> {
    let id = text(tuple, at[0], NAMES[0])?.and_then(non_blank).ok_or(
        "a delete without its claim_id (the table's replica identity must include claim_id)",
    )?;
    check_id("claim_id", id)?;
    Ok(id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pg_walstream::pgoutput_encode::encode_message_to_bytes;
    use pg_walstream::{ColumnData, ColumnInfo};
    use rust_decimal::Decimal;

    fn table() -> (String, String) {
        ("public".into(), "claims".into())
    }

    fn relation(id: u32, name: &str, columns: &[&str]) -> LogicalReplicationMessage {
        LogicalReplicationMessage::Relation {
            relation_id: id,
            namespace: "public".into(),
            relation_name: name.into(),
            replica_identity: b'd',
            columns: columns
                .iter()
                .map(|c| ColumnInfo::new(u8::from(*c == "claim_id"), (*c).into(), 25, -1))
                .collect(),
        }
    }

    fn tuple(values: &[Option<&str>]) -> TupleData {
        TupleData::new(
            values
                .iter()
                .map(|v| {
                    v.map_or_else(ColumnData::null, |t| {
                        ColumnData::text(t.as_bytes().to_vec())
                    })
                })
                .collect(),
        )
    }

    fn decode(decoder: &mut Decoder, message: &LogicalReplicationMessage) -> Vec<Decoded> {
        let mut out = Vec::new();
        decoder
            .decode(&encode_message_to_bytes(message, 1), &mut out)
            .expect("decodes");
        out
    }

    #[test]
    fn inserts_updates_and_deletes_of_the_table_become_changes_by_column_name() {
        let mut d = Decoder::new(&table());
        // Columns in another order, with an extra one.
        let columns = [
            "note",
            "claim_amount",
            "claim_id",
            "created_date",
            "member_id",
            "claim_status",
        ];
        assert!(decode(&mut d, &relation(7, "claims", &columns)).is_empty());
        let row = tuple(&[
            Some("x"),
            Some("1500.10"),
            Some("CLM-1"),
            Some("2024-01-10 09:00:00.25"),
            Some("MBR-1"),
            None,
        ]);
        let out = decode(
            &mut d,
            &LogicalReplicationMessage::Insert {
                relation_id: 7,
                tuple: row.clone(),
            },
        );
        let Ok(Change::Upsert(claim)) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(claim.claim_amount, Decimal::new(150_010, 2));
        assert_eq!(
            (
                claim.claim_id.as_str(),
                claim.member_id.as_str(),
                claim.claim_status.as_deref()
            ),
            ("CLM-1", "MBR-1", None)
        );
        assert_eq!(claim.created_micros, Some(1_704_877_200_250_000));

        // The key changed: the old id is deleted, then the new row upserted.
        let moved = tuple(&[
            Some("x"),
            Some("2.00"),
            Some("CLM-2"),
            None,
            Some("MBR-1"),
            Some("PAID"),
        ]);
        let old_key = tuple(&[None, None, Some("CLM-1"), None, None, None]);
        let out = decode(
            &mut d,
            &LogicalReplicationMessage::Update {
                relation_id: 7,
                old_tuple: Some(old_key.clone()),
                new_tuple: moved,
                key_type: Some('K'),
            },
        );
        assert_eq!(out[0], Ok(Change::Delete("CLM-1".into())));
        assert!(
            matches!(&out[1], Ok(Change::Upsert(c)) if c.claim_id == "CLM-2" && c.claim_status.as_deref() == Some("PAID"))
        );

        let out = decode(
            &mut d,
            &LogicalReplicationMessage::Delete {
                relation_id: 7,
                old_tuple: old_key,
                key_type: 'K',
            },
        );
        assert_eq!(out, vec![Ok(Change::Delete("CLM-1".into()))]);
    }

    #[test]
    fn other_tables_are_passed_over_and_bad_rows_say_why() {
        let mut d = Decoder::new(&table());
        decode(&mut d, &relation(8, "payments", &["claim_id"]));
        assert!(
            decode(
                &mut d,
                &LogicalReplicationMessage::Insert {
                    relation_id: 8,
                    tuple: tuple(&[Some("P")])
                }
            )
            .is_empty()
        );
        decode(
            &mut d,
            &relation(7, "claims", &["claim_id", "member_id", "claim_amount"]),
        );
        let bad = decode(
            &mut d,
            &LogicalReplicationMessage::Insert {
                relation_id: 7,
                tuple: tuple(&[Some("CLM-1"), Some("M"), Some("1.005")]),
            },
        );
        assert!(
            matches!(&bad[0], Err(why) if why.contains("CLM-1") && why.contains("decimal places")),
            "{bad:?}"
        );
        let truncate = decode(
            &mut d,
            &LogicalReplicationMessage::Truncate {
                relation_ids: vec![8, 7],
                flags: 0,
            },
        );
        assert_eq!(truncate.len(), 1);
        let mut out = Vec::new();
        let unknown = LogicalReplicationMessage::Delete {
            relation_id: 9,
            old_tuple: tuple(&[]),
            key_type: 'K',
        };
        assert!(
            d.decode(&encode_message_to_bytes(&unknown, 1), &mut out)
                .is_err()
        );
    }
}
