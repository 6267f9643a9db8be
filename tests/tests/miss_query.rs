//! An experiment, not a check (ignored): one query for 1,000 random ids of a
//! large claims table, each way the ids can be passed to DuckDB, timed.
//!
//! ```bash
//! ENRICHER_MISS_DB=/path/claims-1000000.duckdb cargo test --release -p enricher-tests \
//!   --test miss_query -- --ignored --nocapture
//! ```

use std::time::Instant;

use duckdb::types::Value;
use enricher::lookup::{ClaimsStore, DuckDbStore, QueryShape};

const COLUMNS: &str =
    "c.claim_id, c.member_id, c.claim_amount, c.claim_status, epoch_us(c.created_date)";

fn ids(round: u64, n: u64, rows: u64) -> Vec<String> {
    (0..n)
        .map(|k| enricher::generate::claim_id((round * 104_729 + k * 7919) % rows))
        .collect()
}

fn time(label: &str, rounds: u64, mut query: impl FnMut(u64) -> usize) {
    let mut ms = Vec::new();
    for round in 0..rounds {
        let t = Instant::now();
        let found = query(round);
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(found, 1000, "{label}: rows lost");
    }
    ms.sort_by(f64::total_cmp);
    println!(
        "{label}: median {:.1} ms (min {:.1}, max {:.1}) per 1,000 ids",
        ms[ms.len() / 2],
        ms[0],
        ms[ms.len() - 1]
    );
}

#[test]
#[ignore = "an experiment: needs ENRICHER_MISS_DB, prints timings"]
fn one_query_of_1000_ids_each_way() {
    let Ok(db) = std::env::var("ENRICHER_MISS_DB") else {
        return;
    };
    let db = std::path::PathBuf::from(db);
    let rounds = 9;
    for threads in [None, Some(1)] {
        let open = || DuckDbStore::open(Some(&db), threads).expect("open");
        let rows = open().count().expect("count");
        println!("threads {threads:?}, {rows} rows");
        for shape in [QueryShape::InList, QueryShape::SplitJoin] {
            let mut store = open().with_shape(shape);
            time(&format!("  {shape:?} (row by row)"), rounds, |r| {
                store.fetch(&ids(r, 1000, rows)).expect("fetch").len()
            });
        }
        let mut config = duckdb::Config::default()
            .access_mode(duckdb::AccessMode::ReadOnly)
            .expect("cfg");
        if let Some(n) = threads {
            config = config.threads(i64::from(n)).expect("threads");
        }
        let conn = duckdb::Connection::open_with_flags(&db, config).expect("open");
        let list_sql = format!(
            "SELECT {COLUMNS} FROM claims c WHERE c.claim_id IN (SELECT unnest(?::VARCHAR[]))"
        );
        time("  list parameter + unnest (semi join)", rounds, |r| {
            let list = Value::List(ids(r, 1000, rows).into_iter().map(Value::Text).collect());
            let mut stmt = conn.prepare_cached(&list_sql).expect("prepare");
            stmt.query_map([list], |row| row.get::<_, String>(0))
                .expect("query")
                .count()
        });
        let any_sql =
            format!("SELECT {COLUMNS} FROM claims c WHERE c.claim_id = ANY(?::VARCHAR[])");
        time("  = ANY(list parameter)", rounds, |r| {
            let list = Value::List(ids(r, 1000, rows).into_iter().map(Value::Text).collect());
            let mut stmt = conn.prepare_cached(&any_sql).expect("prepare");
            stmt.query_map([list], |row| row.get::<_, String>(0))
                .expect("query")
                .count()
        });
        let split_sql = format!(
            "SELECT {COLUMNS} FROM claims c WHERE c.claim_id IN (SELECT unnest(string_split(?, chr(31))))"
        );
        time("  split join read as Arrow", rounds, |r| {
            let joined = ids(r, 1000, rows).join("\u{1f}");
            let mut stmt = conn.prepare_cached(&split_sql).expect("prepare");
            stmt.query_arrow([joined])
                .expect("query")
                .map(|b| b.num_rows())
                .sum()
        });
        time("  claim_id only (the scan alone)", rounds, |r| {
            let joined = ids(r, 1000, rows).join("\u{1f}");
            let mut stmt = conn
                .prepare_cached(
                    "SELECT c.claim_id FROM claims c WHERE c.claim_id IN (SELECT unnest(string_split(?, chr(31))))",
                )
                .expect("prepare");
            stmt.query_map([joined], |row| row.get::<_, String>(0))
                .expect("query")
                .count()
        });
        let sql = format!("EXPLAIN ANALYZE {split_sql}");
        let joined = ids(99, 1000, rows).join("\u{1f}");
        let mut stmt = conn.prepare(&sql).expect("prepare");
        let plan: Vec<String> = stmt
            .query_map([joined], |row| row.get::<_, String>(1))
            .expect("explain")
            .filter_map(Result::ok)
            .collect();
        println!("{}", plan.join("\n"));
    }
}
