//! The status page in a real headless Chromium (Debian's `chromium`, which
//! `scripts/setup` installs) against a file-mode host under steady load: the
//! numbers it shows lie between two scrapes of `/metrics` taken just before
//! and just after it rendered. A screenshot is kept under the target dir.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::host::{enricher, start, workdir};
use crate::prom::Scrape;
use crate::support::ok;
use crate::text_file::feed;

fn chromium(args: &[&str], profile: &Path) -> std::process::Output {
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run chromium")
}

fn chromium_present() -> bool {
    Command::new("chromium")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The `data-value` of the element with `data-metric="key"` in the dumped DOM.
fn shown(dom: &str, key: &str) -> String {
    let tag = format!("data-metric=\"{key}\" data-value=\"");
    let at = dom
        .find(&tag)
        .unwrap_or_else(|| panic!("no {key} on the page"))
        + tag.len();
    dom[at..].split('"').next().unwrap_or_default().to_owned()
}

fn number(dom: &str, key: &str) -> f64 {
    let v = shown(dom, key);
    v.parse()
        .unwrap_or_else(|_| panic!("{key} shows {v:?}, not a number"))
}

fn within(key: &str, page: f64, a: f64, b: f64, slack: f64) {
    let (lo, hi) = (a.min(b), a.max(b));
    assert!(
        page >= lo - slack && page <= hi + slack,
        "{key}: page {page}, /metrics {a} .. {b}"
    );
}

fn success_rate(s: &Scrape) -> f64 {
    s.sum("enricher_records_out_total", &[("status", "SUCCESS")])
        / s.sum("enricher_records_out_total", &[])
}

fn hit_ratio(s: &Scrape) -> f64 {
    let hits = s.sum("enricher_lookup_cache_hits_total", &[]);
    hits / (hits + s.sum("enricher_lookup_cache_misses_total", &[]))
}

#[test]
fn status_page_in_headless_chromium_shows_what_metrics_says() {
    if crate::support::skip_without("chromium", chromium_present(), "the status page") {
        return;
    }
    let (dir, db) = workdir("page", 3000);
    let events = ok(enricher().args([
        "generate",
        "--count",
        "40000",
        "--claims",
        "3000",
        "--invalid-rate",
        "0.03",
        "--valid-claim-rate",
        "0.9",
        "--seed",
        "13",
    ]));
    let mut cmd = enricher();
    cmd.args(["run", "--input", "-", "--db"])
        .arg(&db)
        .arg("--enriched-out")
        .arg(dir.join("e.jsonl"))
        .arg("--failed-out")
        .arg(dir.join("f.jsonl"))
        .env("ENRICHER_BATCH_SIZE", "20")
        .stdin(Stdio::piped())
        .stdout(Stdio::null());
    let mut host = start(cmd);
    let mut stdin = host.child.stdin.take().expect("stdin");
    let stop = Arc::new(AtomicBool::new(false));
    let feeding = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            // About 500 records/s, until told to stop (or out of events).
            for chunk in events.lines().collect::<Vec<_>>().chunks(500) {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                feed(&mut stdin, &chunk.join("\n"), 5);
            }
        })
    };
    host.scrape_until(Duration::from_secs(60), |s| {
        s.sum("enricher_records_in_total", &[]) >= 1000.0
    });

    let url = format!("http://{}/?poll_ms=400", host.admin);
    let profile = dir.join("chromium");
    let before = host.scrape();
    let dumped = chromium(
        &["--virtual-time-budget=3000", "--dump-dom", &url],
        &profile,
    );
    let after = host.scrape();
    let dom = String::from_utf8_lossy(&dumped.stdout).into_owned();
    assert!(
        dumped.status.success() && dom.contains("data-metric"),
        "chromium failed: {}",
        String::from_utf8_lossy(&dumped.stderr)
    );

    assert_eq!(shown(&dom, "state"), "running");
    assert_eq!(shown(&dom, "plugin"), "payment-enrichment@0.1.1");
    for (key, name, with) in [
        ("records_in", "enricher_records_in_total", vec![]),
        (
            "enriched",
            "enricher_records_out_total",
            vec![("output", "enriched")],
        ),
        (
            "failed",
            "enricher_records_out_total",
            vec![("output", "failed")],
        ),
    ] {
        within(
            key,
            number(&dom, key),
            before.sum(name, &with),
            after.sum(name, &with),
            0.0,
        );
    }
    let page_in = number(&dom, "records_in");
    assert!(
        page_in > before.sum("enricher_records_in_total", &[]),
        "the page polled while records flowed"
    );
    assert!(
        number(&dom, "throughput") > 0.0,
        "throughput from two polls"
    );
    within(
        "success_rate",
        number(&dom, "success_rate"),
        success_rate(&before),
        success_rate(&after),
        0.01,
    );
    within(
        "cache_hit_ratio",
        number(&dom, "cache_hit_ratio"),
        hit_ratio(&before),
        hit_ratio(&after),
        0.01,
    );
    for (key, q) in [("latency_p95", 0.95), ("latency_p99", 0.99)] {
        let name = "enricher_processing_latency_seconds";
        // A quantile may fall as well as rise between the scrapes: widen the lower one
        // down and the higher one up, whichever scrape they came from.
        let (a, b) = (before.quantile(q, name), after.quantile(q, name));
        within(
            key,
            number(&dom, key),
            a.min(b) * 0.8,
            a.max(b) * 1.25,
            1e-4,
        );
    }
    // Failures by reason: the row of each reason holds its total.
    let tag = "data-failure=\"CLAIM_NOT_FOUND\" data-total=\"";
    let at = dom.find(tag).expect("a CLAIM_NOT_FOUND row") + tag.len();
    let total: f64 = dom[at..]
        .split('"')
        .next()
        .and_then(|v| v.parse().ok())
        .expect("total");
    let with = [("output", "failed"), ("status", "CLAIM_NOT_FOUND")];
    within(
        "CLAIM_NOT_FOUND",
        total,
        before.sum("enricher_records_out_total", &with),
        after.sum("enricher_records_out_total", &with),
        0.0,
    );
    assert!(
        dom.contains("data-version=\"payment-enrichment@0.1.1\""),
        "the version history lists the plugin"
    );

    // A screenshot with some chart history, kept as a test artifact.
    let png = Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    let _ = std::fs::remove_file(&png);
    let shot = chromium(
        &[
            "--virtual-time-budget=12000",
            "--window-size=1400,1000",
            "--hide-scrollbars",
            &format!("--screenshot={}", png.display()),
            &url,
        ],
        &profile,
    );
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 20_000,
        "screenshot {} is {size} bytes",
        png.display()
    );
    eprintln!("status page screenshot: {}", png.display());

    stop.store(true, Ordering::Relaxed);
    feeding.join().expect("feeder");
    assert!(host.child.wait().expect("wait").success());
    let _ = std::fs::remove_dir_all(&dir);
}
