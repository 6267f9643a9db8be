//! Outputs named by a descriptor (`-`, `/dev/stdout`, `/dev/fd/1`,
//! `/proc/self/fd/1`, `/dev/stderr`) are compared by the file behind them:
//! two names of stdout for the two outputs are refused, naming both, before
//! anything is written (their lines would cut into each other); one output
//! on stdout works when stdout is a pipe or a file.

use std::fs::File;
use std::process::{Command, Output, Stdio};

use super::checks::{Dir, answers, claims_db, enricher, event};

fn run(dir: &Dir, enriched: &str, failed: &str) -> Command {
    std::fs::write(
        dir.join("events.jsonl"),
        format!(
            "{}\n{}\n",
            event("PAY-1", "CLM-001"),
            event("PAY-2", "CLM-404")
        ),
    )
    .expect("write");
    let mut command = enricher(
        dir,
        &[
            "run",
            "--input",
            "events.jsonl",
            "--enriched-out",
            enriched,
            "--failed-out",
            failed,
            "--db",
            "claims.duckdb",
        ],
    );
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    command
}

fn output(mut command: Command) -> (Output, String) {
    let out = command.output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stderr)
}

#[test]
fn two_names_of_stdout_are_refused_naming_both() {
    let dir = Dir::new("two-stdouts");
    claims_db(&dir);
    for (enriched, failed) in [
        ("/dev/stdout", "-"),
        ("/dev/fd/1", "-"),
        ("-", "/proc/self/fd/1"),
        ("/dev/stdout", "/dev/fd/1"),
    ] {
        let (out, stderr) = output(run(&dir, enriched, failed));
        assert!(!out.status.success(), "{enriched} {failed}: {stderr}");
        assert!(
            stderr.contains(&format!("--failed-out {failed} (stdout) is the same file as --enriched-out {enriched} (stdout)"))
                && stderr.contains("the two outputs would write over each other"),
            "{enriched} {failed}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "nothing written");
    }
    // Stdout redirected to a file: the same.
    let mut command = run(&dir, "/dev/stdout", "-");
    command.stdout(File::create(dir.join("both.jsonl")).expect("create"));
    let (out, stderr) = output(command);
    assert!(
        !out.status.success() && stderr.contains("is the same file as"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(dir.join("both.jsonl")).expect("read"), b"");
}

#[test]
fn one_output_on_a_piped_stdout_or_stderr_works() {
    let dir = Dir::new("one-stdout");
    claims_db(&dir);
    for name in ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1", "-"] {
        let (out, stderr) = output(run(&dir, name, "failed.jsonl"));
        assert!(out.status.success(), "{name}: {stderr}");
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        assert_eq!(lines.len(), 1, "{name}: {text}");
        assert_eq!(lines[0]["payment_id"], "PAY-1");
        assert_eq!(answers(&dir.join("failed.jsonl")).len(), 1, "{name}");
    }
    let (out, stderr) = output(run(&dir, "enriched.jsonl", "/dev/stderr"));
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("\"payment_id\":\"PAY-2\""), "{stderr}");
    assert_eq!(answers(&dir.join("enriched.jsonl")).len(), 1);
}
