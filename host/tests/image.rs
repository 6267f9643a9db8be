//! The image's contents, tested without a container engine (none starts on
//! the machine this was written on: docs/operations.md, Deployment):
//! `scripts/image-rootfs` builds the Dockerfile's runtime stage as a root
//! filesystem, and the binary runs from it in a chroot as the image's user,
//! with the image's ENV, config file, ENTRYPOINT, CMD and HEALTHCHECK (all read
//! from the Dockerfile), against the test broker. Needs root and `chroot`;
//! `ENRICHER_TEST_ALLOW_MISSING=chroot` skips it on purpose.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

#[path = "support/mod.rs"]
mod support;

use support::host::{start, statuses};
use support::image::Rootfs;
use support::kafka::{broker, fresh_topics};
use support::{ok, skip_without, text, wait_until};

const EVENTS: u64 = 300;

/// The root filesystem, built once for this test binary; `None` when skipped.
fn rootfs() -> Option<&'static Rootfs> {
    static ROOTFS: OnceLock<Option<Rootfs>> = OnceLock::new();
    ROOTFS
        .get_or_init(|| {
            let chroot = std::process::Command::new("unshare")
                .args(["--pid", "--fork", "--mount-proc", "chroot", "/", "/bin/true"])
                .status()
                .is_ok_and(|s| s.success());
            if skip_without(
                "chroot",
                chroot,
                "the image's root filesystem (needs root, util-linux's unshare and coreutils' chroot)",
            ) {
                return None;
            }
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("image-rootfs");
            Some(Rootfs::build(&dir))
        })
        .as_ref()
}

#[test]
fn the_runtime_stage_holds_every_library_the_binary_needs() {
    let Some(fs) = rootfs() else { return };
    let bin = "/opt/enricher/bin/enricher";
    let version = ok(fs.enricher(&["--version"], &[]));
    assert!(
        version.starts_with("enricher "),
        "the ENTRYPOINT runs: {version}"
    );
    let ldd = ok(fs.command(&["ldd", bin], &[]));
    assert!(!ldd.contains("not found"), "a library is missing:\n{ldd}");
    let duckdb = ldd
        .lines()
        .find(|l| l.contains("libduckdb.so"))
        .unwrap_or_else(|| panic!("the binary links libduckdb:\n{ldd}"));
    assert!(
        duckdb.contains("=> /opt/enricher/bin/../lib/libduckdb.so"),
        "libduckdb is found through the $ORIGIN/../lib rpath: {duckdb}"
    );
    // Every library resolves to a file inside the root filesystem (chroot
    // sees nothing else; with no LD_LIBRARY_PATH in the image's ENV).
    for path in ldd.lines().filter_map(|l| l.split("=> ").nth(1)) {
        let path = path.split(" (").next().unwrap_or_default();
        let inside = fs.dir.join(path.trim_start_matches('/'));
        assert!(inside.exists(), "{path} is not in the root filesystem");
    }
    assert!(fs.spec.env.iter().all(|(k, _)| !k.starts_with("LD_")));
    // Control: the same binary away from its lib/ folder misses libduckdb,
    // so the check above sees what the rpath finds.
    std::fs::copy(
        fs.dir.join("opt/enricher/bin/enricher"),
        fs.dir.join("tmp/enricher"),
    )
    .expect("copy the binary");
    let away = ok(fs.command(&["ldd", "/tmp/enricher"], &[]));
    assert!(
        away.contains("libduckdb.so => not found"),
        "control: {away}"
    );
    // The plugin file is the default plugin the binary embeds.
    let shipped = std::fs::read(
        fs.dir
            .join("opt/enricher/share/enricher/plugins/enricher_plugin_typed.wasm"),
    )
    .expect("the image ships the default plugin");
    let built = std::fs::read(env!("ENRICHER_DEFAULT_PLUGIN")).expect("built plugin");
    assert!(shipped == built, "the shipped plugin is the embedded one");
}

#[test]
fn the_image_user_writes_only_its_home() {
    let Some(fs) = rootfs() else { return };
    assert_eq!(ok(fs.command(&["id", "-un"], &[])).trim(), "enricher");
    let probe = |path: &str| {
        // `>>` opens for writing without truncating anything.
        fs.command(&["/bin/sh", "-c", "exec 3>>\"$1\"", "sh", path], &[])
            .status()
            .expect("sh")
            .success()
    };
    let home = fs.spec.workdir.clone();
    let db_dir = Path::new(fs.spec.env("DUCKDB_URL")).parent().expect("dir");
    assert!(
        probe(&format!("{home}/probe")),
        "control: the user writes its home"
    );
    assert!(
        probe(&format!("{}/probe2", db_dir.display())),
        "the claims database's folder"
    );
    for denied in [
        "/opt/enricher/bin/enricher",
        "/opt/enricher/lib/libduckdb.so",
        "/opt/enricher/bin/new",
        "/opt/enricher/share/enricher/plugins/enricher_plugin_typed.wasm",
        fs.spec.env("ENRICHER_CONFIG"),
        "/etc/enricher/other.toml",
        "/etc/passwd",
        "/usr/local/bin/enricher",
        "/probe",
    ] {
        assert!(!probe(denied), "uid {} can write {denied}", fs.spec.user);
    }
}

#[test]
fn the_image_enriches_from_the_test_broker_as_its_user_with_its_config() {
    let Some(fs) = rootfs() else { return };
    let broker = broker();
    let topics = fresh_topics("image", ["in", "enriched", "failed"]);
    let group = format!("{}-group", topics[0]);
    let image_bind = fs.spec.env("ENRICHER_ADMIN_BIND").to_owned();
    let (ip, image_port) = image_bind.rsplit_once(':').expect("ip:port");
    let bind = format!("{ip}:0");
    // What `docker run -e` would add: the broker, fresh topics, at-least-once
    // (nisshi has no transactions), a token (the admin API binds 0.0.0.0),
    // and a free admin port (the image's own may be taken here).
    let extra = [
        ("KAFKA_BOOTSTRAP_SERVERS", broker.as_str()),
        ("PAYMENT_EVENTS_TOPIC", topics[0].as_str()),
        ("ENRICHED_PAYMENTS_TOPIC", topics[1].as_str()),
        ("FAILED_PAYMENTS_TOPIC", topics[2].as_str()),
        ("KAFKA_GROUP_ID", group.as_str()),
        ("ENRICHER_DELIVERY", "at-least-once"),
        ("ENRICHER_ADMIN_TOKEN", "image-test-token"),
        ("ENRICHER_ADMIN_BIND", bind.as_str()),
    ];
    let config_file = fs.spec.env("ENRICHER_CONFIG");
    let check = ok(fs.enricher(&["config", "check"], &extra));
    let line = |key: &str| {
        check
            .lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("config check shows {key}:\n{check}"))
            .to_owned()
    };
    let interval = line("kafka.commit-interval");
    assert!(
        interval.contains("100ms") && interval.contains(config_file),
        "the commit interval comes from the image's {config_file}: {interval}"
    );
    assert!(line("duckdb.url").contains("DUCKDB_URL"), "{check}");

    // Topics, events and claims, made from the image as its user.
    let home = &fs.spec.workdir;
    let csv = format!("{home}/claims.csv");
    let n = EVENTS.to_string();
    for args in [
        vec![
            "topic",
            "create",
            &topics[0],
            &topics[1],
            &topics[2],
            "--partitions",
            "3",
        ],
        vec![
            "generate",
            "--count",
            &n,
            "--claims",
            "1000",
            "--seed",
            "11",
            "--topic",
            &topics[0],
            "--claims-out",
            &csv,
        ],
        vec!["claims", "load", &csv],
    ] {
        ok(fs.enricher(&args, &extra));
    }
    let db = fs
        .dir
        .join(fs.spec.env("DUCKDB_URL").trim_start_matches('/'));
    let uid: u32 = fs
        .spec
        .user
        .split(':')
        .next()
        .and_then(|u| u.parse().ok())
        .expect("numeric USER");
    assert_eq!(
        std::fs::metadata(&db).expect("the claims database").uid(),
        uid
    );

    let healthcheck = |port: &str| {
        let needle = format!(":{image_port}/");
        assert!(
            fs.spec.healthcheck.contains(&needle),
            "{}",
            fs.spec.healthcheck
        );
        let cmd = fs.spec.healthcheck.replace(&needle, &format!(":{port}/"));
        fs.command(&["/bin/sh", "-c", &cmd], &[])
            .output()
            .expect("sh")
    };
    assert!(
        !healthcheck(image_port).status.success(),
        "control: no host, no health"
    );

    let args: Vec<&str> = fs.spec.cmd.iter().map(String::as_str).collect();
    let mut host = Stopped(start(fs.enricher(&args, &extra)));
    let host = &mut host.0;
    let port = host.admin.rsplit_once(':').expect("ip:port").1.to_owned();
    host.scrape_until(Duration::from_secs(120), |s| {
        s.sum("enricher_records_out_total", &[]) >= EVENTS as f64
    });
    let health = healthcheck(&port);
    assert!(
        health.status.success(),
        "HEALTHCHECK: {}",
        text(&health.stderr)
    );
    assert_eq!(text(&health.stdout).trim(), "ok");

    // Every event comes out, enriched by the default plugin or failed for its
    // missing claim (generate makes some events with unknown claims).
    let mut tail = Vec::new();
    wait_until(Duration::from_secs(60), "the outputs", || {
        tail = [&topics[1], &topics[2]]
            .iter()
            .flat_map(|t| {
                ok(fs.enricher(&["topic", "tail", t, "--values"], &extra))
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        tail.len() as u64 >= EVENTS
    });
    let by_status = statuses(tail.iter().map(String::as_str));
    assert_eq!(by_status.values().sum::<u64>(), EVENTS, "{by_status:?}");
    assert!(
        by_status.get("SUCCESS").is_some_and(|n| *n > EVENTS / 2),
        "{by_status:?}"
    );

    // The compose stack runs this image: every metric its Grafana dashboard
    // and Prometheus files query is in this host's scrape (the lag gauge has
    // series once the consumer's statistics first report, within seconds).
    let queried = queried_metrics();
    assert!(
        queried.len() >= 5,
        "the dashboard queries metrics: {queried:?}"
    );
    let exported = |scrape: &support::prom::Scrape| -> BTreeSet<String> {
        scrape
            .0
            .iter()
            .flat_map(|s| metric_names(&s.name))
            .collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let have = exported(&host.scrape());
        let missing: Vec<&String> = queried.difference(&have).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "queried but not exported within 60 s: {missing:?}\nexported: {have:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Kills the host (its `unshare`, which kills what it runs) however the test ends.
struct Stopped(support::host::Running);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.child.kill();
        let _ = self.0.child.wait();
    }
}

/// `enricher_*` metric names in `expr` (histogram series as their family).
fn metric_names(expr: &str) -> BTreeSet<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("enricher_"))
        .map(|w| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| w.strip_suffix(s))
                .unwrap_or(w)
                .to_owned()
        })
        .collect()
}

/// The metric names the Grafana dashboards' `expr`s and the Prometheus
/// files (scrape config, any rules) under deploy/ name.
fn queried_metrics() -> BTreeSet<String> {
    fn exprs(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => m.iter().for_each(|(k, v)| match v {
                serde_json::Value::String(s) if k == "expr" => out.push(s.clone()),
                v => exprs(v, out),
            }),
            serde_json::Value::Array(a) => a.iter().for_each(|v| exprs(v, out)),
            _ => {}
        }
    }
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let mut texts = Vec::new();
    for dir in ["grafana/dashboards", "prometheus"] {
        for entry in std::fs::read_dir(deploy.join(dir)).expect("deploy folder") {
            let path = entry.expect("entry").path();
            let body = std::fs::read_to_string(&path).expect("read");
            if path.extension().is_some_and(|e| e == "json") {
                let json = serde_json::from_str(&body).expect("dashboard JSON");
                exprs(&json, &mut texts);
            } else {
                texts.push(body);
            }
        }
    }
    texts.iter().flat_map(|t| metric_names(t)).collect()
}
