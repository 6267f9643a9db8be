//! The admin API of a running file-mode host (`enricher run --input -`,
//! stdin held open, the real plugin and DuckDB file) as probes, Prometheus
//! and a browser meet it: `/readyz` is ready with no Kafka reasons, the
//! probes answer beside 300 idle connections, `/metrics` follows
//! `admin.open-reads`, the page carries `nosniff` and a strict CSP, and an
//! open bind without a token is refused.

#[path = "support/mod.rs"]
mod support;

use std::net::TcpStream;
use std::time::Duration;

use support::host::{Running, raw_request, start_on_stdin, workdir};

const TOKEN: &str = "file-host-admin-token-0123456789";

/// A file-mode host reading stdin (held open), with `env` set.
fn file_host(label: &str, env: &[(&str, &str)]) -> (Running, std::process::ChildStdin) {
    let (dir, db) = workdir(label, 3);
    start_on_stdin(&dir, &db, env)
}

fn get(admin: &str, path: &str, headers: &[&str]) -> (u16, String) {
    let line = format!("GET {path}");
    let mut all = vec!["Host: localhost"];
    all.extend_from_slice(headers);
    raw_request(admin, &line, &all, "")
}

fn stop(mut host: Running, stdin: std::process::ChildStdin) {
    drop(stdin);
    assert!(host.child.wait().expect("wait").success(), "{}", host.log());
}

#[test]
fn readyz_in_file_mode_is_ready_while_the_plugin_runs_with_no_kafka_reasons() {
    let (host, stdin) = file_host("readyz", &[]);
    let (status, body) = get(&host.admin, "/readyz", &[]);
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(answer["ready"], true, "{body}");
    assert_eq!(answer["mode"], "file", "{body}");
    for kafka in ["partition", "broker", "Kafka"] {
        assert!(!body.contains(kafka), "no Kafka in file mode: {body}");
    }
    assert_eq!(get(&host.admin, "/healthz", &[]).0, 200);
    stop(host, stdin);
}

#[test]
fn probes_answer_beside_300_idle_connections() {
    let (host, stdin) = file_host("probe-reserve", &[]);
    let idle: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(&host.admin).expect("connect an idle client"))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    for probe in ["/healthz", "/readyz"] {
        let (status, body) = get(&host.admin, probe, &[]);
        assert_eq!(status, 200, "{probe} beside 300 idle connections: {body}");
    }
    drop(idle);
    stop(host, stdin);
}

#[test]
fn metrics_need_the_token_when_reads_are_closed() {
    let env = [
        ("ENRICHER_ADMIN_TOKEN", TOKEN),
        ("ENRICHER_ADMIN_OPEN_READS", "false"),
    ];
    let (host, stdin) = file_host("metrics-closed", &env);
    let (status, body) = get(&host.admin, "/metrics", &[]);
    assert_eq!(status, 401, "{body}");
    let bearer = format!("Authorization: Bearer {TOKEN}");
    let (status, body) = get(&host.admin, "/metrics", &[&bearer]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("enricher_records_in_total"), "{body}");
    stop(host, stdin);
}

#[test]
fn the_status_page_is_served_nosniff_with_a_strict_content_security_policy() {
    let (host, stdin) = file_host("page-headers", &[]);
    for path in ["/", "/assets/status.js", "/assets/status.css"] {
        let mut stream = TcpStream::connect(&host.admin).expect("connect");
        use std::io::{Read, Write};
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read");
        let head = answer
            .split("\r\n\r\n")
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{path}: {head}");
        assert!(
            head.contains("x-content-type-options: nosniff"),
            "{path}: {head}"
        );
        let csp = head
            .lines()
            .find_map(|l| l.strip_prefix("content-security-policy: "))
            .unwrap_or_else(|| panic!("{path}: no CSP in {head}"));
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    }
    stop(host, stdin);
}

#[test]
fn the_cache_rows_gauge_follows_claims_posted_without_waiting_for_a_lookup() {
    // 3 claims: `auto` holds the whole table in memory.
    let (host, stdin) = file_host("rows-gauge", &[]);
    let rows = |h: &Running| h.scrape().sum("enricher_lookup_cache_rows", &[]);
    assert_eq!(rows(&host), 3.0);
    let claims = "claim_id,member_id,claim_amount,claim_status,created_date\n\
                  CLM-NEW-1,MBR-1,1.00,APPROVED,2024-01-02 03:04:05\n\
                  CLM-NEW-2,MBR-2,2.00,APPROVED,2024-01-02 03:04:05\n";
    let (status, body) = raw_request(
        &host.admin,
        "POST /v1/claims",
        &["Host: localhost", "Content-Type: text/csv"],
        claims,
    );
    assert_eq!(status, 200, "{body}");
    // No record was looked up since: the gauge follows the table itself.
    host.scrape_until(Duration::from_secs(10), |s| {
        s.sum("enricher_lookup_cache_rows", &[]) == 5.0
    });
    stop(host, stdin);
}

/// An admin API on an open address without a token is refused before the
/// run starts, in file mode as in Kafka mode (it used to be a warning and a
/// run without the API); with a token, the same bind is taken.
#[test]
fn a_public_bind_without_a_token_refuses_to_start_in_file_mode() {
    let (dir, db) = workdir("file-public-bind", 3);
    let run = |token: Option<&str>| {
        let mut cmd = support::enricher(&["run", "--input", "-", "--db"]);
        cmd.arg(&db)
            .arg("--enriched-out")
            .arg(dir.join("enriched.jsonl"))
            .arg("--failed-out")
            .arg(dir.join("failed.jsonl"))
            .env("ENRICHER_ADMIN_BIND", "0.0.0.0:0")
            .stdin(std::process::Stdio::null());
        if let Some(token) = token {
            cmd.env("ENRICHER_ADMIN_TOKEN", token);
        }
        cmd.output().expect("run")
    };
    let refused = run(None);
    let log = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{log}");
    assert!(
        log.contains("refusing to serve the admin API on 0.0.0.0:0"),
        "{log}"
    );
    assert!(
        !dir.join("enriched.jsonl").exists(),
        "refused before any output is opened"
    );
    let taken = run(Some(TOKEN));
    assert!(
        taken.status.success(),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
}
