//! `POST /v1/claims` and `enricher claims publish --admin` against a real
//! file-mode host (`enricher run --input -`, stdin held open, the real
//! plugin, a real DuckDB file): a claim posted after its payment failed
//! CLAIM_NOT_FOUND enriches the next payment for it, an update replaces a
//! cached row, a deletion makes it CLAIM_NOT_FOUND again; bad rows are a 422
//! naming the row with nothing applied; no token is a 401. The cache TTLs
//! are an hour, so only the apply's invalidation can make a change visible.

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ChildStdin;
use std::time::Duration;

use support::host::{Running, enricher, start_on_stdin, workdir};
use support::stderr_ok;

/// The host's stderr once it holds `needle` (its reader thread may lag the exit).
fn log_when(host: &Running, needle: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let log = host.log();
        if log.contains(needle) || std::time::Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

const TOKEN: &str = "claims-admin-test-token-0123456789";

fn payment(n: u32, claim_id: &str) -> String {
    format!(
        r#"{{"payment_id":"PAY-{n}","claim_id":"{claim_id}","payment_amount":10.50,"payment_date":"2024-10-12T18:27:35","processor_id":"PROC-ACH-002","payment_method":"ACH","payment_status":"COMPLETED"}}"#
    )
}

/// Write payment `n` and wait until the host has written its output.
fn feed(host: &Running, stdin: &mut ChildStdin, n: u32, claim_id: &str) {
    writeln!(stdin, "{}", payment(n, claim_id)).expect("write");
    stdin.flush().expect("flush");
    host.scrape_until(Duration::from_secs(30), |s| {
        s.sum("enricher_records_out_total", &[]) >= f64::from(n)
    });
}

/// `POST /v1/claims` as is: the status and the body.
fn post(admin: &str, token: Option<&str>, content_type: &str, body: &str) -> (u16, String) {
    post_as(admin, "/v1/claims", token, content_type, body)
}

/// `path_and_query` posted with the test token: the status and the body.
fn post_to(admin: &str, path_and_query: &str, content_type: &str, body: &str) -> (u16, String) {
    post_as(admin, path_and_query, Some(TOKEN), content_type, body)
}

fn post_as(
    admin: &str,
    path_and_query: &str,
    token: Option<&str>,
    content_type: &str,
    body: &str,
) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent
        .post(format!("http://{admin}{path_and_query}"))
        .header("Content-Type", content_type);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let mut answer = request.send(body).expect("POST");
    let status = answer.status().as_u16();
    (status, answer.body_mut().read_to_string().expect("body"))
}

/// Every output line by payment id: parsed, and as written (exact decimals).
fn outputs(path: &std::path::Path) -> BTreeMap<String, (serde_json::Value, String)> {
    std::fs::read_to_string(path)
        .expect("output")
        .lines()
        .map(|l| {
            let v = serde_json::from_str::<serde_json::Value>(l).expect("JSON line");
            let id = v["payment_id"].as_str().expect("payment_id").to_owned();
            (id, (v, l.to_owned()))
        })
        .collect()
}

#[test]
fn claims_posted_to_a_running_file_host_change_its_next_lookups_exactly() {
    let (dir, db) = workdir("claims-admin", 3);
    let (enriched, failed) = (dir.join("enriched.jsonl"), dir.join("failed.jsonl"));
    let env = [
        ("ENRICHER_BATCH_SIZE", "1"),
        ("ENRICHER_ADMIN_TOKEN", TOKEN),
        ("LOOKUP_CACHE_TTL", "1h"),
        ("LOOKUP_CACHE_MISSING_TTL", "1h"),
    ];
    let (mut host, mut stdin) = start_on_stdin(&dir, &db, &env);
    let admin = host.admin.clone();

    // A known claim (now cached as found) and a new one (cached as missing).
    feed(&host, &mut stdin, 1, "CLM-0000000");
    feed(&host, &mut stdin, 2, "CLM-NEW-1");

    let good = "claim_id,member_id,claim_amount,claim_status,created_date\n\
                CLM-NEW-1,MBR-NEW,1234.56,APPROVED,2024-01-02 03:04:05\n";
    let (status, body) = post(&admin, None, "text/csv", good);
    assert_eq!(status, 401, "no token: {body}");
    let (status, body) = post(&admin, Some("not-the-token"), "text/csv", good);
    assert_eq!(status, 401, "a wrong token: {body}");
    let bad = format!("{good}CLM-NEW-2,MBR-NEW,1.234,APPROVED,\n");
    let (status, body) = post(&admin, Some(TOKEN), "text/csv", &bad);
    assert_eq!(status, 422, "a bad row: {body}");
    assert!(
        body.contains("line 3")
            && body.contains("claim_amount")
            && body.contains("nothing applied"),
        "the per-row error: {body}"
    );
    let (status, body) = post(&admin, Some(TOKEN), "text/plain", good);
    assert_eq!(status, 415, "not a claims type: {body}");
    // Nothing of the refused calls was applied.
    feed(&host, &mut stdin, 3, "CLM-NEW-1");

    // Through the CLI: the new claim and an update of the cached one, as JSON lines.
    let file = dir.join("new-claims.jsonl");
    std::fs::write(
        &file,
        "{\"claim_id\":\"CLM-NEW-1\",\"member_id\":\"MBR-NEW\",\"claim_amount\":\"1234.56\",\"claim_status\":\"APPROVED\"}\n\
         {\"claim_id\":\"CLM-0000000\",\"member_id\":\"MBR-UPDATED\",\"claim_amount\":\"0.10\"}\n",
    )
    .expect("claims file");
    let published = stderr_ok(
        enricher()
            .args(["claims", "publish"])
            .arg(&file)
            .args(["--admin", &admin])
            .env("ENRICHER_ADMIN_TOKEN", TOKEN),
    );
    assert!(
        published.contains("applied 2 claims to duckdb"),
        "{published}"
    );
    feed(&host, &mut stdin, 4, "CLM-NEW-1");
    feed(&host, &mut stdin, 5, "CLM-0000000");

    // A deletion (tombstone) of the new claim, through the API.
    let ids = "claim_id,member_id,claim_amount\nCLM-NEW-1,MBR-NEW,1234.56\n";
    let (status, body) = post(&admin, Some(TOKEN), "text/csv; charset=utf-8", ids);
    assert_eq!(status, 200, "{body}");
    let mut delete = enricher();
    let deleted_file = dir.join("gone.csv");
    std::fs::write(&deleted_file, ids).expect("ids file");
    let deleted = stderr_ok(
        delete
            .args(["claims", "publish", "--delete", "--admin", &admin])
            .arg(&deleted_file)
            .env("ENRICHER_ADMIN_TOKEN", TOKEN),
    );
    assert!(deleted.contains("applied 1 deletions"), "{deleted}");
    feed(&host, &mut stdin, 6, "CLM-NEW-1");

    drop(stdin);
    assert!(host.child.wait().expect("wait").success());
    let (enriched, failed) = (outputs(&enriched), outputs(&failed));
    let status_of = |id: &str| {
        let (v, _) = enriched
            .get(id)
            .or(failed.get(id))
            .expect("an output per payment");
        v["enrichment_status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(status_of("PAY-1"), "SUCCESS");
    for id in ["PAY-2", "PAY-3", "PAY-6"] {
        assert_eq!(status_of(id), "CLAIM_NOT_FOUND", "{id}: {failed:?}");
    }
    let (new, new_line) = &enriched["PAY-4"];
    assert_eq!(new["member_id"], "MBR-NEW");
    assert!(new_line.contains(r#""claim_amount":1234.56"#), "{new_line}");
    let (updated, updated_line) = &enriched["PAY-5"];
    assert_eq!(updated["member_id"], "MBR-UPDATED");
    assert!(
        updated_line.contains(r#""claim_amount":0.10"#),
        "{updated_line}"
    );
    assert_eq!(enriched.len() + failed.len(), 6, "one output per payment");
    let text = log_when(&host, "admin-api:");
    assert!(
        text.contains("admin-api: applied 4 (1 deletions"),
        "the summary reports what the API applied: {text}"
    );

    // Stored in the host's file: the update kept, the new claim deleted.
    let conn = duckdb::Connection::open(&db).expect("open db");
    let member: String = conn
        .query_row(
            "SELECT member_id FROM claims WHERE claim_id = 'CLM-0000000'",
            [],
            |r| r.get(0),
        )
        .expect("row");
    assert_eq!(member, "MBR-UPDATED");
    let new_rows: i64 = conn
        .query_row(
            "SELECT count(*) FROM claims WHERE claim_id = 'CLM-NEW-1'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(new_rows, 0);
}

/// DNS rebinding against a file-mode host without a token: a page on
/// `evil.example` whose name now points at 127.0.0.1 posts claims with
/// `Host: evil.example:PORT` and a matching `Origin`; refused (403), and
/// nothing applied. The same request naming `localhost` is taken.
#[test]
fn claims_posted_under_a_foreign_host_name_are_refused() {
    use support::host::raw_request;
    let (dir, db) = workdir("claims-rebinding", 3);
    let env = [
        ("ENRICHER_BATCH_SIZE", "1"),
        ("LOOKUP_CACHE_TTL", "1h"),
        ("LOOKUP_CACHE_MISSING_TTL", "1h"),
    ];
    let (mut host, mut stdin) = start_on_stdin(&dir, &db, &env);
    let admin = host.admin.clone();
    let port = admin.rsplit_once(':').expect("host:port").1.to_owned();
    let claims = "claim_id,member_id,claim_amount,claim_status,created_date\n\
                  CLM-EVIL-1,MBR-EVIL,9999.99,APPROVED,2024-01-02 03:04:05\n";
    let as_page = |name: &str| {
        let host = format!("Host: {name}:{port}");
        let origin = format!("Origin: http://{name}:{port}");
        raw_request(
            &admin,
            "POST /v1/claims",
            &[&host, &origin, "Content-Type: text/csv"],
            claims,
        )
    };
    let (status, body) = as_page("evil.example");
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("evil.example") && body.contains("DNS rebinding"),
        "{body}"
    );
    feed(&host, &mut stdin, 1, "CLM-EVIL-1");

    // The operator's own names are taken: localhost, then the bound address.
    let (status, body) = as_page("localhost");
    assert_eq!(status, 200, "{body}");
    feed(&host, &mut stdin, 2, "CLM-EVIL-1");
    drop(stdin);
    assert!(host.child.wait().expect("wait").success());
    let failed = outputs(&dir.join("failed.jsonl"));
    let enriched = outputs(&dir.join("enriched.jsonl"));
    assert_eq!(
        failed["PAY-1"].0["enrichment_status"], "CLAIM_NOT_FOUND",
        "not applied"
    );
    assert_eq!(enriched["PAY-2"].0["member_id"], "MBR-EVIL");
}

/// `POST /v1/claims?delete=true` with a body that names only `claim_id`
/// (a CSV of that one column, JSON lines with that one field) deletes those
/// claims; the same body without `delete=true` is refused (a claim needs
/// its member and amount), so the deletion's shorter rule is the one taken.
#[test]
fn a_deletion_needs_only_the_claim_ids() {
    let (dir, db) = workdir("claims-delete-ids", 5);
    let ids: Vec<String> = {
        let conn = duckdb::Connection::open(&db).expect("db");
        let mut statement = conn
            .prepare("SELECT claim_id FROM claims ORDER BY claim_id LIMIT 3")
            .expect("prepare");
        let rows = statement.query_map([], |r| r.get(0)).expect("query");
        rows.collect::<Result<_, _>>().expect("ids")
    };
    let (mut host, stdin) = start_on_stdin(&dir, &db, &[("ENRICHER_ADMIN_TOKEN", TOKEN)]);
    let admin = host.admin.clone();
    let csv = format!("claim_id\n{}\n", ids[0]);
    let (status, body) = post_to(&admin, "/v1/claims", "text/csv", &csv);
    assert_eq!(status, 422, "a claim needs its other columns: {body}");
    assert!(body.contains("member_id"), "{body}");
    let (status, body) = post_to(&admin, "/v1/claims?delete=true", "text/csv", &csv);
    assert_eq!(status, 200, "{body}");
    let jsonl = format!("{{\"claim_id\":\"{}\"}}\n", ids[1]);
    let (status, body) = post_to(
        &admin,
        "/v1/claims?delete=true",
        "application/x-ndjson",
        &jsonl,
    );
    assert_eq!(status, 200, "{body}");
    drop(stdin);
    assert!(host.child.wait().expect("wait").success());
    let conn = duckdb::Connection::open(&db).expect("db");
    let left: Vec<String> = {
        let mut statement = conn
            .prepare("SELECT claim_id FROM claims ORDER BY claim_id")
            .expect("prepare");
        let rows = statement.query_map([], |r| r.get(0)).expect("query");
        rows.collect::<Result<_, _>>().expect("ids")
    };
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(
        !left.contains(&ids[0]) && !left.contains(&ids[1]),
        "{left:?}"
    );
    assert!(left.contains(&ids[2]), "{left:?}");
}

/// A second host on a database a first one writes (its admin API on) is
/// refused at start with why, instead of logging "opened read-only" and
/// then failing on the lock; hosts that only read one file share it.
#[test]
fn a_second_host_on_a_written_database_is_refused_with_why() {
    let (dir, db) = workdir("claims-second-host", 3);
    let (mut writer, stdin) = start_on_stdin(&dir, &db, &[("ENRICHER_ADMIN_TOKEN", TOKEN)]);
    let second = support::enricher(&["run", "--input", "-", "--db"])
        .arg(&db)
        .arg("--enriched-out")
        .arg(dir.join("second-enriched.jsonl"))
        .arg("--failed-out")
        .arg(dir.join("second-failed.jsonl"))
        .env("ENRICHER_ADMIN_BIND", "127.0.0.1:0")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("second host");
    let log = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{log}");
    assert!(log.contains("is being written by another process"), "{log}");
    assert!(!log.contains("opened read-only"), "{log}");
    drop(stdin);
    assert!(writer.child.wait().expect("wait").success());

    // Control: two readers (no admin API) share the file.
    let readers: Vec<_> = (0..2)
        .map(|n| {
            support::enricher(&["run", "--input", "-", "--db"])
                .arg(&db)
                .arg("--enriched-out")
                .arg(dir.join(format!("reader-{n}-enriched.jsonl")))
                .arg("--failed-out")
                .arg(dir.join(format!("reader-{n}-failed.jsonl")))
                .stdin(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("reader")
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    for mut reader in readers {
        drop(reader.stdin.take());
        let out = reader.wait_with_output().expect("reader");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
