//! SIGKILL at any point of `enricher run --input ...` (no summary, no resume
//! command, both outputs cut wherever their buffers were): `--resume` starts
//! from the progress file, cutting each output back to its last checkpoint,
//! so that killed again and again, then resumed to the end, the outputs hold
//! every input record exactly once, with the statuses of one run without a
//! stop.

use std::process::Stdio;
use std::time::{Duration, Instant};

use super::checks::{Dir, enricher, ok, refused};
use super::interrupt::{
    EVENTS, SLOW_RUN, answered_once, both_outputs, generate_and_load, input_ids,
};

fn len(dir: &Dir, name: &str) -> u64 {
    std::fs::metadata(dir.join(name)).map_or(0, |m| m.len())
}

#[test]
fn a_run_killed_at_random_points_resumes_with_every_record_once() {
    let dir = Dir::new("killed");
    generate_and_load(&dir, 6);
    let run = SLOW_RUN;
    // Kill points: after the output grew past where the last kill found it,
    // plus a delay that differs from run to run.
    let jitter = u64::from(std::process::id() % 97);
    let delays = [0, 300 + jitter, 35, 700 + 2 * jitter, 7 + jitter, 450];
    let (mut killed, mut finished) = (0, false);
    let mut past = 0;
    // The furthest resume point a kill left (0 would test no cut-back mid-file).
    let mut furthest = 0;
    for (round, delay) in delays.into_iter().enumerate() {
        let mut args = run.to_vec();
        if round > 0 {
            args.push("--resume");
        }
        let mut command = enricher(&dir, &args);
        command.stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = command.spawn().expect("spawn");
        let started = Instant::now();
        while len(&dir, "enriched.jsonl") <= past && child.try_wait().expect("wait").is_none() {
            assert!(started.elapsed() < Duration::from_secs(60), "no output");
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let status = child.wait().expect("wait");
        if status.success() {
            finished = true;
            break;
        }
        killed += 1;
        past = len(&dir, "enriched.jsonl");
        let progress = std::fs::read(dir.join("enriched.jsonl.progress")).expect("progress file");
        let progress: serde_json::Value = serde_json::from_slice(&progress).expect("JSON");
        let done = progress["lines_done"].as_u64().expect("lines_done");
        furthest = furthest.max(done);
        if round == 0 {
            // The documented resume, with a line the progress file contradicts: refused.
            let wrong_line = (done + 1).to_string();
            let mut wrong = run.to_vec();
            wrong.extend(["--skip-lines", &wrong_line, "--append"]);
            let stderr = refused(enricher(&dir, &wrong));
            assert!(
                stderr.contains("does not match the progress file enriched.jsonl.progress"),
                "{stderr}"
            );
            assert_eq!(len(&dir, "enriched.jsonl"), past, "nothing written");
        }
    }
    assert!(killed >= 3, "only {killed} run(s) killed before the end");
    assert!(
        0 < furthest && furthest < EVENTS,
        "resume points reached: {furthest}"
    );
    if !finished {
        let mut args = run.to_vec();
        args.push("--resume");
        ok(enricher(&dir, &args));
    }
    let resumed = both_outputs(&dir, "");
    assert_eq!(answered_once(&resumed), input_ids(&dir, EVENTS));
    assert!(!dir.join("enriched.jsonl.progress").exists());

    // The same records, with the same statuses, as one run without a stop.
    let mut whole = run.to_vec();
    whole[4] = "whole-enriched.jsonl";
    whole[6] = "whole-failed.jsonl";
    ok(enricher(&dir, &whole));
    assert_eq!(resumed, both_outputs(&dir, "whole-"));
}
