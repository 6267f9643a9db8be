//! The shape of the claims table the lookup reads, checked once when a host
//! starts: a table `enricher claims load` did not make (a missing column, a
//! `DOUBLE` amount, no primary key...) is refused with what differs and the
//! expected table, instead of turning every record into `DB_ERROR` with SQL
//! binder text.

use duckdb::Connection;

use crate::claims_load::CLAIMS_DDL;

/// The columns the lookup reads: (name, DuckDB type, may hold NULL). Other
/// columns may be present; these must be, with these types.
const EXPECTED: &[(&str, &str, bool)] = &[
    ("claim_id", "VARCHAR", false),
    ("member_id", "VARCHAR", false),
    ("claim_amount", "DECIMAL(10,2)", false),
    ("claim_status", "VARCHAR", true),
    ("created_date", "TIMESTAMP", true),
];

/// The table the lookup expects, as printed in errors (from [`CLAIMS_DDL`]).
pub fn expected_table() -> &'static str {
    CLAIMS_DDL.trim_start_matches("CREATE TABLE ")
}

/// Why the database's claims table cannot be read by the lookup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("it has no claims table; expected {}", expected_table())]
    NoTable,
    #[error("its claims table is not the one enricher reads ({}); expected {}", .0.join("; "), expected_table())]
    Mismatch(Vec<String>),
    #[error("cannot read the claims table's columns: {0}")]
    Unreadable(String),
}

/// Check the `claims` table `conn` resolves (the current schema) against [`EXPECTED`].
pub fn check_claims_table(conn: &Connection) -> Result<(), SchemaError> {
    let unreadable = |e: duckdb::Error| SchemaError::Unreadable(e.to_string());
    let found = columns(conn).map_err(unreadable)?;
    if found.is_empty() {
        return Err(SchemaError::NoTable);
    }
    let keyed = claim_id_is_primary_key(conn).map_err(unreadable)?;
    judge(&found, keyed)
}

/// Whether a table with the columns `found` (types named as DuckDB names
/// them) and `keyed` (claim_id alone is its primary key) is one the lookup
/// reads: the one rule for every store.
pub(super) fn judge(found: &[Column], keyed: bool) -> Result<(), SchemaError> {
    let mut problems = Vec::new();
    for &(name, data_type, nullable) in EXPECTED {
        match found.iter().find(|c| c.name.eq_ignore_ascii_case(name)) {
            None => problems.push(format!("{name} is missing")),
            Some(c) if !c.data_type.eq_ignore_ascii_case(data_type) => {
                problems.push(format!("{name} is {}, not {data_type}", c.data_type));
            }
            Some(_) if name == "claim_id" && !keyed => {
                problems.push(format!("{name} is not the primary key"));
            }
            Some(c) if c.nullable && !nullable => problems.push(format!("{name} allows NULL")),
            Some(_) => {}
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(SchemaError::Mismatch(problems))
    }
}

/// One column of a claims table, its type as DuckDB names it.
pub(super) struct Column {
    pub(super) name: String,
    pub(super) data_type: String,
    pub(super) nullable: bool,
}

/// The columns of `claims` in the current database and schema.
fn columns(conn: &Connection) -> duckdb::Result<Vec<Column>> {
    let mut stmt = conn.prepare(
        "SELECT column_name, data_type, is_nullable FROM duckdb_columns() \
         WHERE database_name = current_database() AND schema_name = current_schema() \
         AND lower(table_name) = 'claims' ORDER BY column_index",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Column {
            name: r.get(0)?,
            data_type: r.get(1)?,
            nullable: r.get(2)?,
        })
    })?;
    rows.collect()
}

fn claim_id_is_primary_key(conn: &Connection) -> duckdb::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM duckdb_constraints() \
         WHERE database_name = current_database() AND schema_name = current_schema() \
         AND lower(table_name) = 'claims' AND constraint_type = 'PRIMARY KEY' \
         AND len(constraint_column_names) = 1 AND lower(constraint_column_names[1]) = 'claim_id'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ddl: &str) -> Result<(), SchemaError> {
        let conn = Connection::open_in_memory().expect("duckdb");
        conn.execute_batch(ddl).expect("ddl");
        check_claims_table(&conn)
    }

    #[test]
    fn the_table_claims_load_makes_passes_with_extra_columns_allowed() {
        assert_eq!(check(CLAIMS_DDL), Ok(()));
        let extra = CLAIMS_DDL.replace(
            "claim_status VARCHAR",
            "region VARCHAR, claim_status VARCHAR",
        );
        assert_eq!(check(&extra), Ok(()));
    }

    #[test]
    fn every_difference_is_named_with_the_expected_table() {
        let err = check(
            "CREATE TABLE claims (claim_id VARCHAR PRIMARY KEY, member_id VARCHAR NOT NULL, \
             claim_amount DOUBLE NOT NULL, claim_status VARCHAR)",
        )
        .expect_err("wrong amount type, no created_date");
        assert_eq!(
            err,
            SchemaError::Mismatch(vec![
                "claim_amount is DOUBLE, not DECIMAL(10,2)".into(),
                "created_date is missing".into(),
            ])
        );
        let text = err.to_string();
        assert!(
            text.ends_with(&format!("expected {}", expected_table())),
            "{text}"
        );
        assert!(
            text.contains("claims (claim_id VARCHAR PRIMARY KEY, member_id VARCHAR NOT NULL"),
            "{text}"
        );
    }

    #[test]
    fn nulls_and_a_missing_key_are_refused_and_no_table_is_named() {
        let loose = CLAIMS_DDL
            .replace(" PRIMARY KEY", "")
            .replace("member_id VARCHAR NOT NULL", "member_id VARCHAR");
        assert_eq!(
            check(&loose),
            Err(SchemaError::Mismatch(vec![
                "claim_id is not the primary key".into(),
                "member_id allows NULL".into(),
            ]))
        );
        let no_key = CLAIMS_DDL.replace(" PRIMARY KEY", " NOT NULL");
        assert_eq!(
            check(&no_key),
            Err(SchemaError::Mismatch(vec![
                "claim_id is not the primary key".into()
            ]))
        );
        let other = check("CREATE TABLE payments (id INTEGER)").expect_err("no claims");
        assert_eq!(other, SchemaError::NoTable);
        assert!(other.to_string().contains("has no claims table"), "{other}");
    }
}
