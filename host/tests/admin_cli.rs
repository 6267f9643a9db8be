//! The binary's admin API settings as a user meets them: `enricher run`
//! refuses to open the admin API beyond loopback without a token, and
//! refuses a token that is too short, before it connects to anything.

use std::time::{Duration, Instant};

#[path = "support/mod.rs"]
mod support;

fn run_with(env: &[(&str, &str)]) -> (bool, String, Duration) {
    let mut cmd = support::enricher(&["run"]);
    cmd.env_remove("ENRICHER_ADMIN_TOKEN")
        .env_remove("ENRICHER_ADMIN_TOKEN_FILE")
        // Nobody listens there: the refusal must come before any connection.
        .env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
        // A regression fails here instead of waiting for the broker forever.
        .env("ENRICHER_KAFKA_STARTUP_TIMEOUT", "5s")
        .env("DUCKDB_URL", "/nonexistent/claims.duckdb");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let out = cmd.output().expect("run enricher");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), stderr, started.elapsed())
}

#[test]
fn an_admin_api_beyond_loopback_without_a_token_refuses_to_start() {
    let (ok, stderr, took) = run_with(&[("ENRICHER_ADMIN_BIND", "0.0.0.0:0")]);
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("not a loopback address"), "{stderr}");
    assert!(stderr.contains("ENRICHER_ADMIN_TOKEN"), "{stderr}");
    assert!(
        took < Duration::from_secs(10),
        "refused at once, took {took:?}"
    );
}

#[test]
fn a_short_or_unreadable_token_is_refused_with_its_setting() {
    let (ok, stderr, _) = run_with(&[("ENRICHER_ADMIN_TOKEN", "short")]);
    assert!(!ok);
    assert!(
        stderr.contains("admin.token (ENRICHER_ADMIN_TOKEN)"),
        "{stderr}"
    );
    assert!(stderr.contains("at least 16"), "{stderr}");
    let (ok, stderr, _) = run_with(&[("ENRICHER_ADMIN_TOKEN_FILE", "/no/such/token")]);
    assert!(!ok);
    assert!(
        stderr.contains("ENRICHER_ADMIN_TOKEN_FILE") && stderr.contains("/no/such/token"),
        "{stderr}"
    );
}

#[test]
fn trusted_keys_set_to_nothing_refuse_to_start_instead_of_checking_nothing() {
    for given in [",", "", " , "] {
        let (ok, stderr, _) = run_with(&[("ENRICHER_TRUSTED_KEYS", given)]);
        assert!(!ok, "{given:?}: {stderr}");
        assert!(
            stderr.contains("ENRICHER_TRUSTED_KEYS"),
            "{given:?}: {stderr}"
        );
        assert!(stderr.contains("names nothing"), "{given:?}: {stderr}");
    }
}
