//! `enricher config check`, `--help` and refused settings, as a user sees them.

use super::{Dir, enricher};

/// The line of `key` in `config check`'s output.
fn line_of<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("{key} not printed in:\n{text}"))
}

#[test]
fn config_check_prints_every_value_with_its_source_and_masks_secrets() {
    let dir = Dir::new("config-check");
    let file = dir.join("enricher.toml");
    std::fs::write(
        &file,
        "[lookup]\ntimeout = \"5s\"\ncache-ttl = \"3min\"\n\
         [admin]\ntoken = \"file-token-abcdefghijklmnop\"\n\
         [kafka.properties]\n\"ssl.key.password\" = \"pem-pass-1234\"\n\"client.id\" = \"enricher-7\"\n",
    )
    .expect("write");
    let file = file.to_str().expect("path");
    let mut cmd = enricher(&["config", "check", "--config", file, "--batch-size", "64"]);
    cmd.env("LOOKUP_TIMEOUT", "6s")
        .env("KAFKA_SASL_PASSWORD", "hunter2-secret")
        .env("KAFKA_PROPERTY_SASL_OAUTHBEARER_CLIENT_SECRET", "oauth-xyz")
        .env("KAFKA_SASL_USERNAME", "svc-user");
    let out = cmd.output().expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("file {file} (--config)")),
        "{stdout}"
    );
    let cases = [
        ("lookup.timeout", "\"6s\"", "# env LOOKUP_TIMEOUT"),
        ("lookup.cache-ttl", "\"3m\"", &format!("# file {file}")),
        ("duckdb.url", "\"claims.duckdb\"", "# default"),
        ("duckdb.threads", "(unset)", "# default"),
        ("pipeline.batch-size", "64", "# flag --batch-size"),
        ("admin.token", "***", &format!("# file {file}")),
        (
            "kafka.properties.\"sasl.password\"",
            "***",
            "# env KAFKA_SASL_PASSWORD",
        ),
        (
            "kafka.properties.\"sasl.oauthbearer.client.secret\"",
            "***",
            "# env KAFKA_PROPERTY_SASL_OAUTHBEARER_CLIENT_SECRET",
        ),
        ("kafka.properties.\"ssl.key.password\"", "***", "# file"),
        (
            "kafka.properties.\"sasl.username\"",
            "\"svc-user\"",
            "# env KAFKA_SASL_USERNAME",
        ),
        ("kafka.properties.\"client.id\"", "\"enricher-7\"", "# file"),
    ];
    for (key, value, source) in cases {
        let line = line_of(&stdout, key);
        assert!(
            line.starts_with(&format!("{key} = {value} ")) && line.contains(source),
            "{key}: expected {value} from {source:?}, got {line:?}"
        );
    }
    // Every section is listed.
    for key in [
        "kafka.delivery",
        "deploy.admin-bind",
        "claims.changelog-topic",
    ] {
        assert!(line_of(&stdout, key).contains("# default"), "{key}");
    }
    for secret in [
        "file-token-abcdefghijklmnop",
        "hunter2",
        "pem-pass",
        "oauth-xyz",
    ] {
        assert!(!stdout.contains(secret), "{secret} printed:\n{stdout}");
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains(secret),
            "{secret} logged"
        );
    }
}

#[test]
fn config_check_refuses_an_invalid_configuration_with_the_reason() {
    let dir = Dir::new("config-check-bad");
    let file = dir.join("enricher.toml");
    std::fs::write(&file, "[kafka]\ncommit-interval = 500\n").expect("write");
    let out = enricher(&["config", "check", "--config", file.to_str().expect("path")])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("add a unit, e.g. 500ms or 500s"),
        "{stderr}"
    );
    assert!(!stderr.contains("invalid type"), "{stderr}");

    let mut cmd = enricher(&["config", "check"]);
    cmd.env("LOOKUP_CACHE_TTL", "90");
    let out = cmd.output().expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "error: loading configuration: invalid setting LOOKUP_CACHE_TTL=\"90\": \
             add a unit, e.g. 90ms or 90s"
        ),
        "{stderr}"
    );

    // What `run` refuses at start is refused here too: an open admin API.
    let mut cmd = enricher(&["config", "check"]);
    cmd.env("ENRICHER_ADMIN_BIND", "0.0.0.0:9464")
        .env_remove("ENRICHER_ADMIN_TOKEN");
    let out = cmd.output().expect("run");
    assert!(!out.status.success(), "no token on a public address");
    assert!(String::from_utf8_lossy(&out.stderr).contains("token"));
}

#[test]
fn help_shows_kafka_mode_examples_and_each_setting_flags_env_and_default() {
    let out = enricher(&["--help"]).output().expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    for part in [
        "Kafka (without --input)",
        "KAFKA_BOOTSTRAP_SERVERS=localhost:9092 enricher run",
        "--enriched-out -",
        "enricher config check",
        "summary of a run goes to stderr",
    ] {
        assert!(help.contains(part), "{part:?} not in:\n{help}");
    }
    let out = enricher(&["run", "--help"]).output().expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    for part in [
        "[env: DUCKDB_URL] [default: claims.duckdb]",
        "[env: LOOKUP_CACHE] [default: auto]",
        "[env: ENRICHER_BATCH_SIZE] [default: 1000]",
        "[env: ENRICHER_DELIVERY] [default: exactly-once]",
        "--summary-json <FILE>",
    ] {
        assert!(help.contains(part), "{part:?} not in:\n{help}");
    }
}
