//! `enricher claims load <FILE> [--db PATH]`: replaces the `claims` table
//! with the rows of a CSV or JSON-lines file, atomically (one transaction:
//! on any error nothing changes). Rows are read and validated by the light
//! `enricher-parse` crate (`host/parse/`, fuzzed apart from the host) and
//! streamed into DuckDB's appender (`append`), so a million rows load in
//! seconds without being held in memory.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::LoadError;

pub use read::{Claim, parse_claim_json, read_claim_ids, read_claims, timestamp_text};

mod append;
/// Also how `enricher redrive --since/--until` read a time.
pub use enricher_parse::claims::parse_timestamp_micros;
mod read;

/// The claims table's schema (the lookup reads this table).
pub const CLAIMS_DDL: &str = "CREATE TABLE claims (claim_id VARCHAR PRIMARY KEY, member_id VARCHAR NOT NULL, claim_amount DECIMAL(10,2) NOT NULL, claim_status VARCHAR, created_date TIMESTAMP)";

/// The layout of a claims file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// A header row naming the columns, then one claim per row.
    Csv,
    /// One JSON object per line.
    JsonLines,
}

impl InputFormat {
    /// By extension (`.csv`; `.jsonl`, `.ndjson`, `.json`), else by the first
    /// non-blank byte of the file: `{` means JSON lines, anything else CSV.
    pub fn detect(path: &Path) -> InputFormat {
        let extension = path
            .extension()
            .and_then(|ext| ext.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("csv") => return InputFormat::Csv,
            Some("jsonl" | "ndjson" | "json") => return InputFormat::JsonLines,
            _ => {}
        }
        let mut head = Vec::with_capacity(4096);
        let read = File::open(path).and_then(|file| file.take(4096).read_to_end(&mut head));
        let text = String::from_utf8_lossy(&head);
        let first = text
            .trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
            .chars()
            .next();
        if read.is_ok() && first == Some('{') {
            InputFormat::JsonLines
        } else {
            InputFormat::Csv
        }
    }
}

/// How to treat bad rows and an empty file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Load the good rows and report the bad ones, instead of loading nothing.
    pub skip_bad_rows: bool,
    /// Replace the table even with no rows (otherwise [`LoadError::Empty`]).
    pub allow_empty: bool,
}

/// What a load did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub rows_loaded: u64,
    pub rows_rejected: u64,
    /// The first 20 bad rows, as `line N: why (value)`.
    pub rejected: Vec<String>,
    pub elapsed: Duration,
}

/// Create or replace the `claims` table in `conn` from the file, atomically
/// (one transaction: on error nothing changes). The format comes from
/// [`InputFormat::detect`]. In strict mode (the default) any bad row fails
/// the load with [`LoadError::BadRows`]; a file that leaves no row to load
/// fails it with [`LoadError::Empty`] unless `allow_empty`.
pub fn load_claims(
    conn: &mut duckdb::Connection,
    path: &Path,
    opts: &LoadOptions,
) -> Result<LoadReport, LoadError> {
    let file = File::open(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    load_claims_from(conn, BufReader::with_capacity(1 << 20, file), path, opts)
}

/// [`load_claims`] reading `input`, the contents of `path` (which names the
/// format and the file in messages): for callers that watch the reading.
pub fn load_claims_from(
    conn: &mut duckdb::Connection,
    input: impl BufRead,
    path: &Path,
    opts: &LoadOptions,
) -> Result<LoadReport, LoadError> {
    let started = Instant::now();
    let format = InputFormat::detect(path);
    let transaction = conn.transaction()?;
    transaction.execute_batch(&format!("DROP TABLE IF EXISTS claims; {CLAIMS_DDL};"))?;
    let tally = append::append_claims(&transaction, format, input, path, opts.skip_bad_rows)?;
    if tally.rows_rejected > 0 && !opts.skip_bad_rows {
        // Dropping the transaction rolls it back: the old table stays.
        let shown = tally.rejected.len() as u64;
        let mut details = tally.rejected.join("\n");
        if tally.rows_rejected > shown {
            details.push_str(&format!("\n... and {} more", tally.rows_rejected - shown));
        }
        let count = tally.rows_rejected as usize;
        return Err(LoadError::BadRows {
            path: path.to_path_buf(),
            count,
            details,
        });
    }
    if tally.rows_loaded == 0 && !opts.allow_empty {
        // Rolled back as above: an empty file does not wipe the table.
        return Err(LoadError::Empty {
            path: path.to_path_buf(),
            rows_rejected: tally.rows_rejected,
            details: tally.rejected.join("\n"),
        });
    }
    transaction.commit()?;
    Ok(LoadReport {
        rows_loaded: tally.rows_loaded,
        rows_rejected: tally.rows_rejected,
        rejected: tally.rejected,
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use std::path::PathBuf;

    /// A fresh directory named after one test, with a claims database; removed on drop.
    struct Scratch {
        dir: PathBuf,
        conn: duckdb::Connection,
    }

    impl Scratch {
        fn new(test: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("claims-load-{}-{test}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create scratch dir");
            let conn = duckdb::Connection::open(dir.join("claims.duckdb")).expect("open db");
            Scratch { dir, conn }
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.dir.join(name);
            std::fs::write(&path, text).expect("write input");
            path
        }

        fn load(
            &mut self,
            name: &str,
            text: &str,
            skip_bad_rows: bool,
        ) -> Result<LoadReport, LoadError> {
            let path = self.write(name, text);
            let options = LoadOptions {
                skip_bad_rows,
                ..LoadOptions::default()
            };
            load_claims(&mut self.conn, &path, &options)
        }

        fn strings(&self, sql: &str) -> Vec<String> {
            let mut statement = self.conn.prepare(sql).expect("prepare");
            let rows = statement.query_map([], |row| row.get(0)).expect("query");
            rows.collect::<Result<_, _>>().expect("rows")
        }

        fn claims(&self) -> Vec<ClaimTuple> {
            let sql = "SELECT claim_id, member_id, claim_amount, claim_status, CAST(created_date AS VARCHAR) \
                       FROM claims ORDER BY claim_id";
            let mut statement = self.conn.prepare(sql).expect("prepare");
            let rows = statement
                .query_map([], |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    ))
                })
                .expect("query");
            rows.collect::<Result<_, _>>().expect("rows")
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    type ClaimTuple = (String, String, Decimal, Option<String>, Option<String>);

    fn claim(
        id: &str,
        member: &str,
        cents: i64,
        status: Option<&str>,
        created: Option<&str>,
    ) -> ClaimTuple {
        (
            id.into(),
            member.into(),
            Decimal::new(cents, 2),
            status.map(Into::into),
            created.map(Into::into),
        )
    }

    const GOOD_CSV: &str = "member_id,claim_id,claim_amount,created_date,claim_status\n\
        MBR-1,CLM-1,0.10,2023-06-01 12:00:00,APPROVED\n\
        MBR-2,CLM-2,99999999.99,,\n\
        MBR-3,CLM-3,-5.5,2024-02-29T08:30:00.25,DENIED\n";

    #[test]
    fn csv_with_nulls_loads_and_reads_back_exactly() {
        let mut scratch = Scratch::new("csv-nulls");
        let report = scratch.load("claims.csv", GOOD_CSV, false).expect("load");
        assert_eq!((report.rows_loaded, report.rows_rejected), (3, 0));
        let expected = [
            claim(
                "CLM-1",
                "MBR-1",
                10,
                Some("APPROVED"),
                Some("2023-06-01 12:00:00"),
            ),
            claim("CLM-2", "MBR-2", 9_999_999_999, None, None),
            claim(
                "CLM-3",
                "MBR-3",
                -550,
                Some("DENIED"),
                Some("2024-02-29 08:30:00.25"),
            ),
        ];
        assert_eq!(scratch.claims(), expected);
        let primary_key = "SELECT constraint_type FROM duckdb_constraints() \
                           WHERE table_name = 'claims' AND constraint_type = 'PRIMARY KEY'";
        assert_eq!(scratch.strings(primary_key), ["PRIMARY KEY"]);
        let types = "SELECT data_type FROM information_schema.columns WHERE table_name = 'claims' ORDER BY ordinal_position";
        assert_eq!(
            scratch.strings(types),
            [
                "VARCHAR",
                "VARCHAR",
                "DECIMAL(10,2)",
                "VARCHAR",
                "TIMESTAMP"
            ]
        );
    }

    #[test]
    fn json_lines_load_and_a_second_load_replaces_the_rows() {
        let mut scratch = Scratch::new("json-replace");
        scratch
            .load("first.csv", GOOD_CSV, false)
            .expect("first load");
        let json = "{\"claim_id\":\"CLM-9\",\"member_id\":\"MBR-9\",\"claim_amount\":1500.5,\"claim_status\":null}\n\n\
            {\"claim_id\":\"CLM-8\",\"member_id\":\"MBR-8\",\"claim_amount\":\"12.34\",\"created_date\":\"2023-01-31\"}\n";
        // No extension: detected by its first byte.
        let report = scratch.load("second", json, false).expect("second load");
        assert_eq!(report.rows_loaded, 2);
        let expected = [
            claim("CLM-8", "MBR-8", 1_234, None, Some("2023-01-31 00:00:00")),
            claim("CLM-9", "MBR-9", 150_050, None, None),
        ];
        assert_eq!(scratch.claims(), expected);
    }

    #[test]
    fn a_bad_row_in_strict_mode_changes_nothing_and_skip_mode_loads_the_rest() {
        let mut scratch = Scratch::new("strict");
        scratch
            .load("good.csv", GOOD_CSV, false)
            .expect("good load");
        let bad = "claim_id,member_id,claim_amount\nCLM-7,MBR-7,1.00\nCLM-8,MBR-8,abc\nCLM-7,MBR-9,2.00\n";
        let error = scratch.load("bad.csv", bad, false).expect_err("strict");
        let LoadError::BadRows { count, details, .. } = &error else {
            panic!("expected BadRows, got {error}")
        };
        assert_eq!(*count, 2);
        let expected = "line 3: claim_amount is not a decimal number (abc)\n\
                        line 4: duplicate claim_id (CLM-7), first on line 2";
        assert_eq!(details, expected);
        assert_eq!(scratch.claims().len(), 3, "previous table intact");
        assert_eq!(scratch.claims()[0].0, "CLM-1");

        let report = scratch.load("bad.csv", bad, true).expect("skip mode");
        assert_eq!((report.rows_loaded, report.rows_rejected), (1, 2));
        assert_eq!(report.rejected, expected.lines().collect::<Vec<_>>());
        assert_eq!(scratch.claims(), [claim("CLM-7", "MBR-7", 100, None, None)]);
    }

    #[test]
    fn file_problems_are_errors_even_when_skipping() {
        let mut scratch = Scratch::new("file-problems");
        let error = scratch
            .load("missing.csv", "claim_id,claim_amount\nCLM-1,1.00\n", true)
            .expect_err("missing");
        assert!(
            error
                .to_string()
                .contains("line 1: missing required column(s) member_id"),
            "{error}"
        );
        let error = scratch
            .load(
                "unknown.csv",
                "claim_id,member_id,claim_amount,region\n",
                true,
            )
            .expect_err("unknown");
        assert!(
            error.to_string().contains("unknown column(s) region"),
            "{error}"
        );
        let absent = scratch.dir.join("absent.csv");
        let error =
            load_claims(&mut scratch.conn, &absent, &LoadOptions::default()).expect_err("no file");
        assert!(matches!(error, LoadError::Read { .. }));
    }

    #[test]
    fn many_bad_rows_keep_twenty_messages_and_the_count() {
        let mut scratch = Scratch::new("many-bad");
        let rows: String = (0..50).map(|n| format!("CLM-{n},,1.00\n")).collect();
        let error = scratch.load(
            "bad.csv",
            &format!("claim_id,member_id,claim_amount\n{rows}"),
            false,
        );
        let Err(LoadError::BadRows { count, details, .. }) = error else {
            panic!("expected BadRows")
        };
        assert_eq!(count, 50);
        assert_eq!(details.lines().count(), 21);
        assert!(
            details.starts_with("line 2: missing or empty member_id\n"),
            "{details}"
        );
        assert!(details.ends_with("... and 30 more"), "{details}");
    }

    #[test]
    fn formats_are_detected_by_extension_then_content() {
        let scratch = Scratch::new("detect");
        assert_eq!(InputFormat::detect(Path::new("x.CSV")), InputFormat::Csv);
        assert_eq!(
            InputFormat::detect(Path::new("x.ndjson")),
            InputFormat::JsonLines
        );
        assert_eq!(
            InputFormat::detect(Path::new("x.json")),
            InputFormat::JsonLines
        );
        let json = scratch.write("a.txt", "\n  {\"claim_id\":1}");
        assert_eq!(InputFormat::detect(&json), InputFormat::JsonLines);
        assert_eq!(
            InputFormat::detect(&scratch.write("b.txt", "claim_id,member_id")),
            InputFormat::Csv
        );
        assert_eq!(
            InputFormat::detect(&scratch.dir.join("absent")),
            InputFormat::Csv
        );
    }

    fn load_generated(rows: u64) {
        let mut scratch = Scratch::new(&format!("generated-{rows}"));
        let mut csv = Vec::new();
        crate::generate::write_claims_csv(&mut csv, rows, 7).expect("generate");
        let path = scratch.write("claims.csv", &String::from_utf8(csv).expect("utf8"));
        let report = load_claims(&mut scratch.conn, &path, &LoadOptions::default()).expect("load");
        eprintln!(
            "loaded {} generated claims in {:?}",
            report.rows_loaded, report.elapsed
        );
        assert_eq!(report.rows_loaded, rows);
        assert_eq!(
            scratch.strings("SELECT CAST(count(*) AS VARCHAR) FROM claims"),
            [rows.to_string()]
        );
        let id = crate::generate::claim_id(rows / 2);
        let member = scratch.strings(&format!(
            "SELECT member_id FROM claims WHERE claim_id = '{id}'"
        ));
        assert!(member[0].starts_with("MBR-"), "{member:?}");
    }

    #[test]
    fn two_hundred_thousand_generated_claims_load() {
        load_generated(200_000);
    }

    #[test]
    #[ignore = "slow: run with --ignored to time a million rows"]
    fn one_million_generated_claims_load() {
        load_generated(1_000_000);
    }
}
