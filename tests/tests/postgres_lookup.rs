//! Claims looked up in a real PostgreSQL (`CLAIMS_URL=postgres://...`, the
//! server `scripts/test` starts): the outputs equal those of DuckDB holding
//! the same rows in every cache mode; the pool's connections ended by the
//! server (as a restart ends them) give DB_ERROR or retries, then recovery
//! with nothing lost; a query blocked by a lock answers DB_TIMEOUT within the
//! limit and is cancelled on the server; a table of the wrong shape is
//! refused with DuckDB's message; a full cache whose reload fails in an
//! outage keeps serving its last copy; `sslmode=require` against a server without
//! TLS fails clearly; against one with TLS (a second test server), the
//! connections are encrypted, `verify-full` accepts the certificate its CA
//! signed and refuses one it did not; a password is never printed.
//!
//! Each test makes its own table (a unique name, also the pool's
//! `application_name`), so the tests run in parallel on one server.

use std::fs::File;
use std::io::BufWriter;
use std::sync::Arc;
use std::time::{Duration, Instant};

use enricher::config::{CacheMode, Config, LookupConfig};
use enricher::generate::{GenerateOptions, write_claims_csv, write_events};
use enricher::lookup::{ClaimsLookup, DuckDbStore, LookupAnswer, PostgresStore};
use enricher_tests::postgres::{Pg, claims_url, test_postgres, test_postgres_tls, unique_table};
use enricher_tests::*;
use serde_json::Value;

/// A config looking claims up in `table` on the test server.
fn config_for_table(table: &str, lookup: LookupConfig) -> Config {
    let mut config = Config::default();
    config.claims.url = Some(claims_url(&test_postgres(), table));
    config.lookup = lookup;
    config
}

/// The outputs without their processing time (the only field that may differ).
fn comparable(values: &[Value]) -> Vec<Value> {
    values
        .iter()
        .map(|v| {
            let mut v = v.clone();
            if let Some(o) = v.as_object_mut() {
                o.remove("enrichment_timestamp");
            }
            v
        })
        .collect()
}

#[test]
fn direct_lookups_match_duckdb_holding_the_same_rows_in_every_cache_mode() {
    let pg = Pg::connect(&test_postgres());
    let dir = TempDir::new("pg-oracle");
    let (claims, seed) = (3_000, 11);
    let csv = dir.join("claims.csv");
    write_claims_csv(
        &mut BufWriter::new(File::create(&csv).expect("create")),
        claims,
        seed,
    )
    .expect("claims");
    let db = load_claims_file(&dir, &csv);
    let table = unique_table("oracle");
    pg.claims_table(&table, Some(&csv));
    assert_eq!(pg.number(&format!("SELECT count(*) FROM {table}")), 3_000);
    let events = dir.join("events.jsonl");
    let options = GenerateOptions {
        count: Some(8_000),
        valid_claim_rate: 0.85,
        invalid_rate: 0.05,
        claims,
        seed,
        ..GenerateOptions::default()
    };
    write_events(
        &mut BufWriter::new(File::create(&events).expect("create")),
        &options,
    )
    .expect("events");
    let input = std::fs::read(&events).expect("read events");

    // (mode, partial cache rows, batch): a small partial cache misses all along.
    for (mode, max_rows, batch) in [
        (CacheMode::Partial, 500, 250),
        (CacheMode::Full, 100_000, 1000),
        (CacheMode::None, 100_000, 7),
        (CacheMode::Auto, 100_000, 500),
    ] {
        let lookup = LookupConfig {
            cache: mode,
            cache_max_rows: max_rows,
            ..LookupConfig::default()
        };
        let mut duck_config = config_for(&db);
        duck_config.lookup = lookup.clone();
        let mut duck = enricher::app::build_pipeline(&duck_config).expect("duckdb pipeline");
        let expected = run_bytes(&mut duck, &input, batch);

        let config = config_for_table(&table, lookup);
        let mut pipeline = enricher::app::build_pipeline(&config).expect("postgres pipeline");
        let out = run_bytes(&mut pipeline, &input, batch);
        assert_eq!(out.enriched.len() + out.failed.len(), 8_000, "{mode:?}");
        assert!(out.enriched.len() > 6_000, "{mode:?}: mostly found");
        assert_eq!(
            comparable(&out.enriched),
            comparable(&expected.enriched),
            "{mode:?}"
        );
        assert_eq!(
            comparable(&out.failed),
            comparable(&expected.failed),
            "{mode:?}"
        );
        let stats = pipeline.lookup().stats();
        assert_eq!(
            stats.store_errors + stats.store_timeouts,
            0,
            "{mode:?}: {stats:?}"
        );
        match mode {
            CacheMode::Full | CacheMode::Auto => {
                assert_eq!(pipeline.lookup().cache_choice().mode, "full", "{mode:?}");
                assert_eq!(stats.rows_in_memory, 3_000, "{mode:?}: the table loaded");
            }
            _ => assert!(
                stats.store_queries > 10,
                "{mode:?}: looked up in PostgreSQL: {stats:?}"
            ),
        }
    }
    pg.execute(&format!("DROP TABLE {table}"));
}

/// A table of `rows` claims `CLM-0`.. with member `MBR-i`.
fn numbered_table(pg: &Pg, label: &str, rows: usize) -> String {
    let table = unique_table(label);
    pg.claims_table(&table, None);
    pg.execute(&format!(
        "INSERT INTO {table} SELECT 'CLM-' || i, 'MBR-' || i, (i % 1000) + 0.25, 'APPROVED', \
         TIMESTAMP '2024-01-10 09:00:00' FROM generate_series(0, {}) i",
        rows - 1
    ));
    table
}

fn ids(from: usize, to: usize) -> Vec<String> {
    (from..to).map(|i| format!("CLM-{i}")).collect()
}

fn member(answer: &LookupAnswer) -> Option<&str> {
    match answer {
        LookupAnswer::Found(row) => Some(row.member_id.as_str()),
        _ => None,
    }
}

fn open(table: &str, lookup: LookupConfig) -> Arc<ClaimsLookup> {
    enricher::app::open_lookup(&config_for_table(table, lookup)).expect("lookup opens")
}

#[test]
fn rows_read_from_postgres_are_the_rows_it_holds() {
    let pg = Pg::connect(&test_postgres());
    let table = numbered_table(&pg, "rows", 10);
    pg.execute(&format!(
        "INSERT INTO {table} VALUES ('CLM-NULLS', 'MBR-X', -12.30, NULL, NULL)"
    ));
    let lookup = open(
        &table,
        LookupConfig {
            cache: CacheMode::None,
            ..LookupConfig::default()
        },
    );
    let answers = lookup.lookup(&[
        "CLM-3".into(),
        "NOPE".into(),
        "CLM-NULLS".into(),
        "CLM-3".into(),
    ]);
    let LookupAnswer::Found(row) = &answers[0] else {
        panic!("CLM-3 found: {answers:?}")
    };
    assert_eq!(row.member_id, "MBR-3");
    assert_eq!(row.claim_amount.to_string(), "3.25");
    assert_eq!(row.claim_status.as_deref(), Some("APPROVED"));
    assert_eq!(
        row.created_at_micros,
        Some(1_704_877_200_000_000),
        "2024-01-10 09:00:00"
    );
    assert_eq!(answers[1], LookupAnswer::NotFound);
    let LookupAnswer::Found(nulls) = &answers[2] else {
        panic!("CLM-NULLS found: {answers:?}")
    };
    assert_eq!(
        (
            nulls.claim_amount.to_string().as_str(),
            &nulls.claim_status,
            nulls.created_at_micros
        ),
        ("-12.30", &None, None)
    );
    assert_eq!(member(&answers[3]), Some("MBR-3"));
    assert_eq!(lookup.stats().store_queries, 1, "one query for the batch");
    pg.execute(&format!("DROP TABLE {table}"));
}

/// A config over `table` read as `role` (see [`Pg::down`]).
fn config_as(table: &str, role: &str, lookup: LookupConfig) -> Config {
    let mut config = config_for_table(table, lookup);
    config.claims.url = config.claims.url.map(|url| format!("{url}&user={role}"));
    config
}

#[test]
fn an_outage_is_ridden_over_by_the_retries_and_nothing_is_lost() {
    let pg = Pg::connect(&test_postgres());
    let table = numbered_table(&pg, "outage", 2_000);
    let role = pg.reader_role(&table);
    let config = config_as(
        &table,
        &role,
        LookupConfig {
            cache: CacheMode::None,
            max_retries: 8,
            retry_backoff: Duration::from_millis(50),
            retry_backoff_max: Duration::from_millis(400),
            timeout: Duration::from_secs(20),
            ..LookupConfig::default()
        },
    );
    let lookup = enricher::app::open_lookup(&config).expect("lookup opens");
    let mut outages = 0;
    for batch in 0..20 {
        let back = (batch % 5 == 2).then(|| {
            assert!(pg.down(&role, &table) >= 1, "the pool's connection ended");
            outages += 1;
            let url = test_postgres();
            let role = role.clone();
            // The server comes back 300 ms later, in the middle of the retries.
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                Pg::connect(&url).up(&role);
            })
        });
        let wanted = ids(batch * 100, batch * 100 + 100);
        let answers = lookup.lookup(&wanted);
        for (id, answer) in wanted.iter().zip(&answers) {
            assert_eq!(
                member(answer),
                Some(id.replace("CLM", "MBR").as_str()),
                "batch {batch}: {answer:?}"
            );
        }
        if let Some(back) = back {
            back.join().expect("up");
        }
    }
    let stats = lookup.stats();
    assert!(
        stats.store_retries >= outages,
        "each outage cost retries: {stats:?}"
    );
    assert_eq!(
        (stats.store_errors, stats.store_timeouts),
        (0, 0),
        "{stats:?}"
    );
    pg.drop_table(&table, Some(&role));
}

/// The full cache's reload fails while the server refuses the host (an
/// outage): lookups go on answering from the last copy, exactly, the
/// failures are counted, and the next reload after the outage picks up a
/// row added meanwhile.
#[test]
fn a_failed_full_reload_keeps_serving_the_last_copy() {
    let pg = Pg::connect(&test_postgres());
    let table = numbered_table(&pg, "fullkeep", 500);
    let role = pg.reader_role(&table);
    let config = config_as(
        &table,
        &role,
        LookupConfig {
            cache: CacheMode::Full,
            full_reload_interval: Duration::from_millis(150),
            max_retries: 0,
            timeout: Duration::from_secs(2),
            ..LookupConfig::default()
        },
    );
    let lookup = enricher::app::open_lookup(&config).expect("lookup opens");
    let wanted = ids(0, 500);
    let answered = |lookup: &ClaimsLookup| {
        lookup
            .lookup(&wanted)
            .iter()
            .zip(&wanted)
            .filter(|(answer, id)| member(answer) == Some(id.replace("CLM", "MBR").as_str()))
            .count()
    };
    assert_eq!(answered(&lookup), 500);

    assert!(pg.down(&role, &table) >= 1, "the pool's connection ended");
    pg.execute(&format!(
        "INSERT INTO {table} VALUES ('CLM-NEW', 'MBR-NEW', 1.00, 'APPROVED', NULL)"
    ));
    let failures_before = lookup.stats().full_reload_failures;
    let deadline = Instant::now() + Duration::from_secs(20);
    while lookup.stats().full_reload_failures < failures_before + 2 {
        assert!(
            Instant::now() < deadline,
            "no reload failed: {:?}",
            lookup.stats()
        );
        // Every lookup meanwhile answers from the last copy.
        assert_eq!(answered(&lookup), 500, "{:?}", lookup.stats());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        member(&lookup.lookup(&["CLM-NEW".to_owned()])[0]),
        None,
        "the copy is the one from before the outage"
    );

    pg.up(&role);
    let deadline = Instant::now() + Duration::from_secs(20);
    while member(&lookup.lookup(&["CLM-NEW".to_owned()])[0]) != Some("MBR-NEW") {
        assert!(
            Instant::now() < deadline,
            "no reload after the outage: {:?}",
            lookup.stats()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(answered(&lookup), 500);
    pg.drop_table(&table, Some(&role));
}

#[test]
fn without_retries_an_outage_is_db_error_then_the_next_batch_recovers() {
    let pg = Pg::connect(&test_postgres());
    let table = numbered_table(&pg, "dberror", 100);
    let role = pg.reader_role(&table);
    let no_retries = |cache| LookupConfig {
        cache,
        max_retries: 0,
        ..LookupConfig::default()
    };
    let lookup =
        enricher::app::open_lookup(&config_as(&table, &role, no_retries(CacheMode::Partial)))
            .expect("lookup opens");
    assert_eq!(member(&lookup.lookup(&ids(0, 1))[0]), Some("MBR-0"));
    assert!(pg.down(&role, &table) >= 1, "the pool's connection ended");
    let failed = lookup.lookup(&ids(1, 3));
    for answer in &failed {
        let LookupAnswer::Unavailable(why) = answer else {
            panic!("DB_ERROR expected: {failed:?}")
        };
        assert!(why.contains("PostgreSQL"), "{why}");
    }
    pg.up(&role);
    // Not cached: the same ids are read again once the server answers.
    let recovered = lookup.lookup(&ids(1, 3));
    assert_eq!(member(&recovered[0]), Some("MBR-1"), "{recovered:?}");
    assert_eq!(member(&recovered[1]), Some("MBR-2"));
    assert_eq!(lookup.stats().store_errors, 1);

    // Through the plugin: the DB_ERROR record goes to the failed output with its code.
    let config = config_as(&table, &role, no_retries(CacheMode::None));
    let mut pipeline = enricher::app::build_pipeline(&config).expect("pipeline");
    let line = |n: usize| event(&format!("PAY-{n}"), &format!("CLM-{n}"), "1.00") + "\n";
    assert_eq!(
        run_bytes(&mut pipeline, line(5).as_bytes(), 10)
            .enriched
            .len(),
        1
    );
    pg.down(&role, &table);
    let during = run_bytes(&mut pipeline, line(6).as_bytes(), 10);
    assert_eq!(during.failed.len(), 1, "{:?}", during.enriched);
    assert_eq!(
        during.failed[0]["enrichment_status"], "DB_ERROR",
        "{:?}",
        during.failed[0]
    );
    pg.up(&role);
    let after = run_bytes(&mut pipeline, line(6).as_bytes(), 10);
    assert_eq!(after.enriched.len(), 1, "recovered: {:?}", after.failed);
    pg.drop_table(&table, Some(&role));
}

#[test]
fn a_query_blocked_by_a_lock_is_db_timeout_within_the_limit_and_cancelled_on_the_server() {
    let pg = Pg::connect(&test_postgres());
    let table = numbered_table(&pg, "locked", 100);
    let limit = Duration::from_millis(600);
    let lookup = open(
        &table,
        LookupConfig {
            cache: CacheMode::None,
            timeout: limit,
            ..LookupConfig::default()
        },
    );
    assert_eq!(
        member(&lookup.lookup(&ids(0, 1))[0]),
        Some("MBR-0"),
        "warm: connected, prepared"
    );
    let locker = Pg::connect(&test_postgres());
    locker.execute(&format!(
        "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
    ));
    let started = Instant::now();
    let answers = lookup.lookup(&ids(1, 3));
    let took = started.elapsed();
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, LookupAnswer::Timeout(_))),
        "DB_TIMEOUT: {answers:?}"
    );
    assert!(took >= limit.mul_f64(0.9), "not before the limit: {took:?}");
    assert!(
        took < limit + Duration::from_millis(500),
        "within the limit: {took:?} for {limit:?}"
    );
    // The cancel request reached the server: no query of ours waits on the lock.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let waiting = pg.number(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{table}' \
             AND state = 'active' AND wait_event_type = 'Lock'"
        ));
        if waiting == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the blocked query was never cancelled"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    locker.execute("ROLLBACK");
    assert_eq!(
        member(&lookup.lookup(&ids(4, 5))[0]),
        Some("MBR-4"),
        "answers again"
    );
    assert_eq!(lookup.stats().store_timeouts, 1);
    pg.execute(&format!("DROP TABLE {table}"));
}

#[test]
fn the_wrong_schema_gives_the_same_message_as_duckdb() {
    let pg = Pg::connect(&test_postgres());
    let check_both = |ddl: &str| {
        let table = unique_table("schema");
        pg.execute(&ddl.replacen("claims", &table, 1));
        let duck = duckdb::Connection::open_in_memory().expect("duckdb");
        duck.execute_batch(&ddl.replace("DOUBLE PRECISION", "DOUBLE"))
            .expect("ddl");
        let expected = DuckDbStore::from_connection(duck).check_schema();
        let target = match config_for_table(&table, LookupConfig::default()).claims_source() {
            Ok(enricher::config::ClaimsSource::Postgres(target)) => target,
            other => panic!("a PostgreSQL source: {other:?}"),
        };
        let store = PostgresStore::connect(&target, Duration::from_secs(5)).expect("pool");
        let found = store.check_schema();
        pg.execute(&format!("DROP TABLE {table}"));
        assert_eq!(found, expected, "{ddl}");
        found
    };
    let wrong = check_both(
        "CREATE TABLE claims (claim_id VARCHAR PRIMARY KEY, member_id VARCHAR NOT NULL, \
         claim_amount DOUBLE PRECISION NOT NULL, claim_status VARCHAR)",
    );
    let text = wrong.expect_err("refused").to_string();
    assert!(
        text.contains("claim_amount is DOUBLE, not DECIMAL(10,2); created_date is missing"),
        "{text}"
    );
    let loose = check_both(
        "CREATE TABLE claims (claim_id VARCHAR, member_id VARCHAR, claim_amount DECIMAL(10,2) NOT NULL, \
         claim_status VARCHAR, created_date TIMESTAMP)",
    );
    assert!(loose.is_err());
    let good = check_both(
        "CREATE TABLE claims (claim_id VARCHAR PRIMARY KEY, region VARCHAR, member_id VARCHAR NOT NULL, \
         claim_amount DECIMAL(10,2) NOT NULL, claim_status VARCHAR, created_date TIMESTAMP)",
    );
    assert_eq!(good, Ok(()), "extra columns allowed");

    // At start, the host refuses the table with that message and the URL.
    let table = unique_table("noschema");
    let err = enricher::app::open_lookup(&config_for_table(&table, LookupConfig::default()))
        .err()
        .expect("no such table")
        .to_string();
    assert!(
        err.contains("has no claims table; expected claims (claim_id VARCHAR PRIMARY KEY"),
        "{err}"
    );
    assert!(err.contains(&table), "{err}");
}

#[test]
fn sslmode_require_against_a_server_without_tls_fails_clearly() {
    let pg = Pg::connect(&test_postgres());
    let table = numbered_table(&pg, "tls", 3);
    let mut config = config_for_table(&table, LookupConfig::default());
    let url = config.claims.url.clone().expect("url");
    config.claims.url = Some(format!("{url}&sslmode=require"));
    let err = enricher::app::open_lookup(&config)
        .err()
        .expect("the test server has no TLS")
        .to_string();
    assert!(
        err.contains("does not offer it") && err.contains("sslmode"),
        "{err}"
    );
    // prefer falls back to plain TCP, as libpq's default does.
    config.claims.url = Some(format!("{url}&sslmode=prefer"));
    let lookup = enricher::app::open_lookup(&config).expect("prefer connects without TLS");
    assert_eq!(member(&lookup.lookup(&ids(2, 3))[0]), Some("MBR-2"));
    pg.execute(&format!("DROP TABLE {table}"));
}

#[test]
fn against_a_tls_server_the_pool_is_encrypted_and_verify_full_checks_the_certificate() {
    let (base, ca) = test_postgres_tls();
    let pg = Pg::connect(&base);
    let table = numbered_table(&pg, "tls_on", 3);
    let url = claims_url(&base, &table);
    let mut config = Config::default();
    let open_with = |config: &mut Config, params: &str| {
        config.claims.url = Some(format!("{url}&{params}"));
        enricher::app::open_lookup(config).map_err(|e| e.to_string())
    };
    let encrypted = |encrypted: bool| {
        pg.number(&format!(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = '{table}' AND s.ssl = {encrypted}"
        ))
    };

    // verify-full with the CA that signed the server's certificate.
    let params = format!("sslmode=verify-full&sslrootcert={}", ca.display());
    let lookup = open_with(&mut config, &params).expect("verify-full with the right CA");
    assert_eq!(member(&lookup.lookup(&ids(2, 3))[0]), Some("MBR-2"));
    assert!(encrypted(true) >= 1, "the server sees TLS connections");
    assert_eq!(encrypted(false), 0, "and no plain one");
    drop(lookup);

    // Control: sslmode=disable on the same server is plain TCP (so the
    // count above is the client's doing, not the server's).
    let lookup = open_with(&mut config, "sslmode=disable").expect("disable connects");
    assert_eq!(member(&lookup.lookup(&ids(1, 2))[0]), Some("MBR-1"));
    assert!(
        encrypted(false) >= 1,
        "sslmode=disable connects without TLS"
    );
    drop(lookup);

    // A CA that did not sign it: refused, naming the certificate.
    let dir = TempDir::new("pg-other-ca");
    let other = dir.join("other-ca.crt");
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
        ])
        .arg("-keyout")
        .arg(dir.join("other-ca.key"))
        .arg("-out")
        .arg(&other)
        .output()
        .expect("openssl (scripts/setup installs it)");
    assert!(
        made.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    for mode in ["verify-full", "verify-ca"] {
        let params = format!("sslmode={mode}&sslrootcert={}", other.display());
        let err = match open_with(&mut config, &params) {
            Ok(_) => panic!("{mode}: a certificate its CA did not sign was accepted"),
            Err(err) => err,
        };
        assert!(err.to_lowercase().contains("certificate"), "{mode}: {err}");
    }
    // verify-ca with the right CA, and require (encrypted, not checked), connect.
    for params in [
        format!("sslmode=verify-ca&sslrootcert={}", ca.display()),
        "sslmode=require".to_owned(),
    ] {
        let lookup = open_with(&mut config, &params).unwrap_or_else(|e| panic!("{params}: {e}"));
        assert_eq!(
            member(&lookup.lookup(&ids(0, 1))[0]),
            Some("MBR-0"),
            "{params}"
        );
    }
    pg.execute(&format!("DROP TABLE {table}"));
}

#[test]
fn a_password_from_a_file_is_sent_and_never_printed() {
    let pg = Pg::connect(&test_postgres());
    let table = numbered_table(&pg, "password", 3);
    let dir = TempDir::new("pg-password");
    let file = dir.join("password");
    std::fs::write(&file, "file-secret-123\n").expect("write");
    let mut config = config_for_table(&table, LookupConfig::default());
    config.claims.password_file = Some(file);
    // The test server trusts loopback, so any password is accepted: this
    // checks the password is read and used, not the server's check of it.
    let lookup = enricher::app::open_lookup(&config).expect("connects");
    assert_eq!(member(&lookup.lookup(&ids(1, 2))[0]), Some("MBR-1"));
    // A server that is not there: the error names the URL, not the password.
    config.claims.password_file = None;
    config.claims.url = Some(format!(
        "postgres://postgres:url-secret-456@127.0.0.1:1/postgres?table={table}"
    ));
    let err = enricher::app::open_lookup(&config)
        .err()
        .expect("nothing listens on port 1")
        .to_string();
    assert!(err.contains("127.0.0.1:1") && err.contains("***"), "{err}");
    assert!(!err.contains("url-secret-456"), "{err}");
    pg.execute(&format!("DROP TABLE {table}"));
}
