//! Reading the PostgreSQL claims table as the lookup sees it: a type's name
//! as DuckDB writes it (so one schema rule and one message serve both
//! stores), `created_date` from PostgreSQL's binary TIMESTAMP, and rows into
//! [`ClaimRow`]s.

use rust_decimal::Decimal;
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, Type};

use super::ClaimRow;
use super::postgres_errors::describe;
use crate::error::StoreError;

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// PostgreSQL's name of a type (`format_type`) as DuckDB names it, so one
/// rule and one message serve both stores.
pub(super) fn duckdb_type_name(pg: String) -> String {
    let lower = pg.to_ascii_lowercase();
    let name = match lower.as_str() {
        "text" | "character varying" => "VARCHAR",
        "double precision" => "DOUBLE",
        "real" => "FLOAT",
        "integer" => "INTEGER",
        "bigint" => "BIGINT",
        "smallint" => "SMALLINT",
        "boolean" => "BOOLEAN",
        "date" => "DATE",
        "numeric" => "DECIMAL",
        "bytea" => "BLOB",
        _ if lower.starts_with("character varying(") => "VARCHAR",
        _ if lower.starts_with("timestamp") && lower.ends_with("without time zone") => "TIMESTAMP",
        _ if lower.starts_with("timestamp") && lower.ends_with("with time zone") => {
            "TIMESTAMP WITH TIME ZONE"
        }
        _ => {
            return match lower.strip_prefix("numeric(") {
                Some(rest) => format!("DECIMAL({rest}"),
                None => pg.to_ascii_uppercase(),
            };
        }
    };
    name.to_owned()
}

/// `created_date`: PostgreSQL's binary TIMESTAMP is microseconds since 2000-01-01.
struct Micros(i64);

impl<'a> FromSql<'a> for Micros {
    fn from_sql(
        _ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let since_2000 = i64::from_sql(&Type::INT8, raw)?;
        Ok(Micros(since_2000.saturating_add(PG_EPOCH_MICROS)))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIMESTAMP
    }
}

fn read_row(row: &Row) -> Result<(String, ClaimRow), tokio_postgres::Error> {
    Ok((
        row.try_get(0)?,
        ClaimRow {
            member_id: row.try_get(1)?,
            claim_amount: row.try_get::<_, Decimal>(2)?,
            claim_status: row.try_get(3)?,
            created_at_micros: row.try_get::<_, Option<Micros>>(4)?.map(|m| m.0),
        },
    ))
}

pub(super) fn read_rows(rows: &[Row]) -> Result<Vec<(String, ClaimRow)>, StoreError> {
    rows.iter()
        .map(read_row)
        .collect::<Result<_, _>>()
        .map_err(|e| StoreError::Permanent(describe(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_types_read_as_duckdb_names_them() {
        let name = |pg: &str| duckdb_type_name(pg.to_owned());
        assert_eq!(name("character varying"), "VARCHAR");
        assert_eq!(name("character varying(64)"), "VARCHAR");
        assert_eq!(name("text"), "VARCHAR");
        assert_eq!(name("numeric(10,2)"), "DECIMAL(10,2)");
        assert_eq!(name("numeric"), "DECIMAL");
        assert_eq!(name("double precision"), "DOUBLE");
        assert_eq!(name("timestamp without time zone"), "TIMESTAMP");
        assert_eq!(name("timestamp(3) without time zone"), "TIMESTAMP");
        assert_eq!(name("timestamp with time zone"), "TIMESTAMP WITH TIME ZONE");
        assert_eq!(name("uuid"), "UUID");
    }

    #[test]
    fn timestamps_count_from_the_unix_epoch() {
        let micros = |v: i64| Micros::from_sql(&Type::TIMESTAMP, &v.to_be_bytes()).map(|m| m.0);
        assert_eq!(micros(0).ok(), Some(PG_EPOCH_MICROS));
        assert_eq!(micros(-PG_EPOCH_MICROS).ok(), Some(0));
        assert!(Micros::accepts(&Type::TIMESTAMP) && !Micros::accepts(&Type::TIMESTAMPTZ));
    }
}
