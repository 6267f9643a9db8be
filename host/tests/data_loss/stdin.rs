//! `enricher run --input -`: stdin redirected from one of the outputs is
//! refused before anything is written (the file is compared, not the path);
//! records of a quiet feed are written within `max-batch-wait`, not held for a
//! full batch; a SIGTERM while stdin is silent drains what was read, prints
//! the resume command and exits 143, and the resumed feed answers every
//! record exactly once.

use std::fs::File;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::checks::{Dir, answers, claims_db, enricher, event, ok, refused};
use super::interrupt::{answered_once, as_strs, both_outputs, resume_point};

/// Room the test machine gets beyond a configured wait (a loaded CI box).
const MARGIN: Duration = Duration::from_secs(2);

fn events(ids: std::ops::Range<u32>) -> String {
    ids.map(|i| {
        let claim = if i % 3 == 0 { "CLM-404" } else { "CLM-001" };
        event(&format!("PAY-{i:03}"), claim) + "\n"
    })
    .collect()
}

/// `run --input -` into `enriched`/`failed`, then `extra`.
fn from_stdin(dir: &Dir, enriched: &str, failed: &str, extra: &[&str]) -> Command {
    let mut args = vec![
        "run",
        "--input",
        "-",
        "--enriched-out",
        enriched,
        "--failed-out",
        failed,
        "--db",
        "claims.duckdb",
    ];
    args.extend_from_slice(extra);
    enricher(dir, &args)
}

#[test]
fn stdin_redirected_from_an_output_is_refused_and_the_file_kept() {
    let dir = Dir::new("stdin-is-output");
    claims_db(&dir);
    let text = events(0..2);
    std::fs::write(dir.join("ev.jsonl"), &text).expect("write");
    for (enriched, failed, extra, clash) in [
        (
            "ev.jsonl",
            "failed.jsonl",
            &[][..],
            "--enriched-out ev.jsonl",
        ),
        (
            "enriched.jsonl",
            "ev.jsonl",
            &[][..],
            "--failed-out ev.jsonl",
        ),
        (
            "ev.jsonl",
            "failed.jsonl",
            &["--append"][..],
            "--enriched-out ev.jsonl",
        ),
    ] {
        let mut command = from_stdin(&dir, enriched, failed, extra);
        command.stdin(File::open(dir.join("ev.jsonl")).expect("open"));
        let stderr = refused(command);
        assert!(
            stderr.contains(&format!("{clash} is the same file as --input - (stdin)")),
            "{enriched} {failed} {extra:?}: {stderr}"
        );
        let kept = std::fs::read_to_string(dir.join("ev.jsonl")).expect("read");
        assert_eq!(kept, text, "the input is untouched");
        assert!(!dir.join("enriched.jsonl").exists() && !dir.join("failed.jsonl").exists());
    }
    // A copy of it on stdin is another file: it runs.
    std::fs::write(dir.join("copy.jsonl"), &text).expect("write");
    let mut command = from_stdin(&dir, "enriched.jsonl", "failed.jsonl", &[]);
    command.stdin(File::open(dir.join("copy.jsonl")).expect("open"));
    let summary = ok(command);
    assert!(summary.contains("2 in, 1 enriched, 1 failed"), "{summary}");
}

/// Lines in both outputs of `dir`.
fn lines_out(dir: &Dir) -> usize {
    ["enriched.jsonl", "failed.jsonl"]
        .iter()
        .map(|name| {
            std::fs::read(dir.join(name)).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
        })
        .sum()
}

/// Waits up to `limit` for `lines` output lines; the time it took.
fn wait_for_lines(dir: &Dir, lines: usize, limit: Duration, child: &mut Child) -> Duration {
    let started = Instant::now();
    while lines_out(dir) < lines {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!(
                "{} of {lines} output lines after {limit:?}: records of a quiet feed are held",
                lines_out(dir)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    started.elapsed()
}

#[test]
fn a_quiet_stdin_feed_is_written_within_max_batch_wait_and_sigterm_drains_it() {
    let dir = Dir::new("quiet-stdin");
    claims_db(&dir);
    std::fs::write(dir.join("all.jsonl"), events(0..10)).expect("write");
    let feed = events(0..4);
    let feed: Vec<&str> = feed.lines().collect();
    let wait = Duration::from_millis(300);
    let mut command = from_stdin(&dir, "enriched.jsonl", "failed.jsonl", &[]);
    command
        .env("ENRICHER_MAX_BATCH_WAIT", "300ms")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    // One record first: answered once the host is up (its start is not timed).
    writeln!(stdin, "{}", feed[0]).expect("feed");
    stdin.flush().expect("flush");
    wait_for_lines(&dir, 1, Duration::from_secs(30), &mut child);

    // Three more, then silence with stdin open: written after the configured
    // wait (not at once, not after a batch of 1000 that never comes).
    let sent = Instant::now();
    for line in &feed[1..4] {
        writeln!(stdin, "{line}").expect("feed");
    }
    stdin.flush().expect("flush");
    wait_for_lines(&dir, 4, wait + MARGIN, &mut child);
    let elapsed = sent.elapsed();
    assert!(
        elapsed >= wait,
        "written after {elapsed:?}, before max-batch-wait"
    );

    // SIGTERM while stdin is silent: the run ends now, complete up to line 4.
    let signalled = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    while child.try_wait().expect("wait").is_none() {
        if signalled.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("SIGTERM ignored while stdin is silent");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(stdin);
    let out = child.wait_with_output().expect("wait");
    let summary = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(143), "{summary}");
    assert!(summary.contains("4 in, "), "{summary}");
    let (line, resume) = resume_point(&summary);
    assert_eq!(line, 4, "{summary}");
    assert_eq!(answered_once(&both_outputs(&dir, "")).len(), 4);

    // A resume that does not start where the outputs end is refused.
    let mut wrong = from_stdin(
        &dir,
        "enriched.jsonl",
        "failed.jsonl",
        &["--skip-lines", "3", "--append"],
    );
    wrong.stdin(File::open(dir.join("all.jsonl")).expect("open"));
    let stderr = refused(wrong);
    assert!(
        stderr.contains(
            "--append --skip-lines 3 does not match the progress file enriched.jsonl.progress"
        ) && stderr.contains("complete up to input line 4"),
        "{stderr}"
    );
    assert_eq!(
        answered_once(&both_outputs(&dir, "")).len(),
        4,
        "nothing written"
    );

    // The printed command, with the whole feed again on stdin.
    let mut resumed = enricher(&dir, &as_strs(&resume));
    resumed.stdin(File::open(dir.join("all.jsonl")).expect("open"));
    let summary = ok(resumed);
    assert!(summary.contains("6 in, "), "{summary}");
    let ids = answered_once(&both_outputs(&dir, ""));
    let expected: Vec<String> = (0..10).map(|i| format!("PAY-{i:03}")).collect();
    assert_eq!(ids, expected);
    assert!(
        !dir.join("enriched.jsonl.progress").exists(),
        "a complete run leaves no resume point"
    );
    assert_eq!(
        answers(&dir.join("failed.jsonl")).len(),
        4,
        "PAY-000, 003, 006, 009"
    );
}
