//! File mode: `enricher run --input -` fed at a steady rate, scraped while
//! it runs; the counters match the lines it then wrote.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use crate::host::{enricher, start, statuses, workdir};
use crate::support::ok;

/// Events written to the host's stdin, `per_tick` lines every 10 ms.
pub fn feed(stdin: &mut impl Write, events: &str, per_tick: usize) {
    for chunk in events.lines().collect::<Vec<_>>().chunks(per_tick) {
        for line in chunk {
            stdin.write_all(line.as_bytes()).expect("write");
            stdin.write_all(b"\n").expect("write");
        }
        stdin.flush().expect("flush");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn file_mode_metrics_equal_the_records_written_per_output_and_status() {
    const N: u64 = 4000;
    let (dir, db) = workdir("file", 2000);
    let events = ok(enricher().args([
        "generate",
        "--count",
        &N.to_string(),
        "--claims",
        "2000",
        "--invalid-rate",
        "0.05",
        "--valid-claim-rate",
        "0.85",
        "--seed",
        "11",
    ]));
    let (enriched, failed) = (dir.join("enriched.jsonl"), dir.join("failed.jsonl"));
    let mut cmd = enricher();
    cmd.args(["run", "--input", "-", "--db"])
        .arg(&db)
        .arg("--enriched-out")
        .arg(&enriched)
        .arg("--failed-out")
        .arg(&failed)
        .env("ENRICHER_BATCH_SIZE", "50")
        .stdin(Stdio::piped())
        .stdout(Stdio::null());
    let mut host = start(cmd);
    let mut stdin = host.child.stdin.take().expect("stdin");
    feed(&mut stdin, &events, 100);

    // Every record is through: scrape while the host still runs (stdin open).
    let n = N as f64;
    let scrape = host.scrape_until(Duration::from_secs(60), |s| {
        s.sum("enricher_records_out_total", &[]) >= n
    });
    drop(stdin);
    assert!(host.child.wait().expect("wait").success());

    scrape.check_shape(false);
    assert_eq!(scrape.sum("enricher_records_in_total", &[]), n);
    let written_enriched = statuses(
        std::fs::read_to_string(&enriched)
            .expect("enriched")
            .lines(),
    );
    let written_failed = statuses(std::fs::read_to_string(&failed).expect("failed").lines());
    assert_eq!(scrape.out_by_status("enriched"), written_enriched);
    assert_eq!(scrape.out_by_status("failed"), written_failed);
    assert!(
        written_failed.contains_key("CLAIM_NOT_FOUND")
            && written_failed.contains_key("INVALID_JSON"),
        "{written_failed:?}"
    );
    // Every valid event looked its claim up once: hits + misses = those lookups.
    let asked = scrape.sum("enricher_lookup_cache_hits_total", &[])
        + scrape.sum("enricher_lookup_cache_misses_total", &[]);
    let looked_up: u64 = written_enriched.values().sum::<u64>()
        + written_failed.get("CLAIM_NOT_FOUND").copied().unwrap_or(0);
    // (the plugin asks once per distinct claim id of a batch)
    assert!(
        asked > 0.0 && asked <= looked_up as f64,
        "{asked} lookups for {looked_up} events"
    );
    assert!(
        scrape.sum("enricher_lookup_cache_hits_total", &[]) > 0.0,
        "2000 claims, 4000 events: repeats hit"
    );
    assert_eq!(
        scrape.sum(
            "enricher_pipeline_state",
            &[("mode", "file"), ("state", "running")]
        ),
        1.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}
