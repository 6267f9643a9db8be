//! The README's tour as a user types it. The `bash` blocks marked
//! `<!-- tour: run -->` run for real, in order, in one scratch folder, with
//! `enricher` a shell function calling the binary under test; every other
//! `enricher ...` command of the README's `bash` blocks must at least parse:
//! the binary is run with the same arguments and `--help`, which clap answers
//! with the help only when the command, every flag and every value before it
//! are valid. (Those need a broker or a running host, so they are not run.)

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "support/mod.rs"]
mod support;

use support::{Dir, binary};

/// The marker that makes the next `bash` block run in the test.
const RUN_MARKER: &str = "<!-- tour: run -->";

/// One fenced `bash` block of the README.
struct Block {
    /// The 1-based line of its first command line.
    first_line: usize,
    /// Preceded by [`RUN_MARKER`].
    run: bool,
    lines: Vec<String>,
}

fn readme_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")
}

fn bash_blocks(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    let mut marked = false;
    // Inside a fenced block of another language.
    let mut other = false;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if other {
            other = !trimmed.starts_with("```");
            continue;
        }
        if let Some(block) = current.as_mut() {
            if trimmed.starts_with("```") {
                blocks.extend(current.take());
            } else {
                block.lines.push(line.to_owned());
            }
            continue;
        }
        if trimmed.starts_with("```") {
            if trimmed == "```bash" || trimmed == "```sh" {
                current = Some(Block {
                    first_line: i + 2,
                    run: marked,
                    lines: Vec::new(),
                });
            } else {
                other = true;
            }
            marked = false;
        } else if trimmed == RUN_MARKER {
            marked = true;
        } else if !trimmed.is_empty() {
            marked = false;
        }
    }
    blocks
}

/// The block's commands, continuation lines (`\` at the end) joined, each
/// with its README line.
fn commands(block: &Block) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, line) in block.lines.iter().enumerate() {
        let number = block.first_line + i;
        let (start, mut text) = pending.take().unwrap_or((number, String::new()));
        match line.trim_end().strip_suffix('\\') {
            Some(head) => {
                text.push_str(head);
                text.push(' ');
                pending = Some((start, text));
            }
            None => {
                text.push_str(line);
                out.push((start, text));
            }
        }
    }
    out.extend(pending);
    out
}

/// Shell words of one command, up to a comment; quotes removed. Operators
/// (`|`, `&&`, `;`, `&`, `>`, `<`, `(`, `)`) are words of their own.
fn words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = command.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        _ => word.push(q),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            '#' if !in_word => break,
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '|' | '&' | ';' | '>' | '<' | '(' | ')' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
                let mut op = c.to_string();
                if let Some(&next) = chars.peek()
                    && (next == c || (c == '>' && next == '&'))
                {
                    op.push(next);
                    chars.next();
                }
                words.push(op);
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

fn is_operator(word: &str) -> bool {
    matches!(
        word,
        "|" | "||" | "&" | "&&" | ";" | ";;" | "(" | ")" | "((" | "))"
    )
}

fn is_redirection(word: &str) -> bool {
    matches!(word, ">" | ">>" | "<" | "<<" | ">&")
}

/// The arguments of every `enricher` invocation in one command line (a
/// pipeline or list may hold several), leading `NAME=value` assignments and
/// redirections left out.
fn enricher_invocations(command: &str) -> Vec<Vec<String>> {
    let words = words(command);
    let mut invocations = Vec::new();
    for simple in words.split(|w| is_operator(w)) {
        let mut rest = simple
            .iter()
            .skip_while(|w| {
                w.split_once('=').is_some_and(|(name, _)| {
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
            })
            .peekable();
        if rest.next().map(String::as_str) != Some("enricher") {
            continue;
        }
        let mut args = Vec::new();
        while let Some(word) = rest.next() {
            if is_redirection(word) {
                rest.next();
                continue;
            }
            args.push(word.clone());
        }
        invocations.push(args);
    }
    invocations
}

#[test]
fn the_readme_tour_blocks_marked_to_run_run_as_written() {
    let readme = std::fs::read_to_string(readme_path()).expect("README.md");
    let blocks: Vec<Block> = bash_blocks(&readme).into_iter().filter(|b| b.run).collect();
    assert!(
        blocks.len() >= 2,
        "the README's file-mode tour should have blocks marked {RUN_MARKER}"
    );
    let dir = Dir::new("readme-tour");
    let mut script = String::from("set -euo pipefail\nenricher() { \"$ENRICHER_BIN\" \"$@\"; }\n");
    for block in &blocks {
        script.push_str(&format!("# README.md line {}\n", block.first_line));
        for line in &block.lines {
            script.push_str(line);
            script.push('\n');
        }
    }
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&dir.0)
        .env("ENRICHER_BIN", binary())
        .env_remove("DUCKDB_URL")
        .env_remove("ENRICHER_CONFIG")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the README's tour failed ({}):\n--- script\n{script}--- stdout\n{stdout}--- stderr\n{stderr}",
        out.status
    );

    // What the tour says happens does: every event comes out once, on one of the outputs.
    let lines = |name: &str| -> Vec<String> {
        std::fs::read_to_string(dir.join(name))
            .unwrap_or_else(|e| panic!("the tour should write {name}: {e}"))
            .lines()
            .map(str::to_owned)
            .collect()
    };
    let (enriched, failed) = (lines("enriched.jsonl"), lines("failed.jsonl"));
    assert_eq!(enriched.len() + failed.len(), 100_000, "{stderr}");
    assert!(enriched.len() > 80_000 && !failed.is_empty(), "{stderr}");
    let first: serde_json::Value =
        serde_json::from_str(&enriched[0]).expect("an enriched line is JSON");
    assert_eq!(first["enrichment_status"], "SUCCESS");
    for field in [
        "member_id",
        "claim_amount",
        "claim_status",
        "enrichment_timestamp",
    ] {
        assert!(first.get(field).is_some(), "{field} missing from {first}");
    }
    assert_eq!(
        lines("enriched-2.jsonl").len() + lines("failed-2.jsonl").len(),
        1_000,
        "the pipe example routes each of its 1,000 events once"
    );
    assert!(
        stdout.contains("lookup.timeout = \"6s\"") && stdout.contains("env LOOKUP_TIMEOUT"),
        "config check should show where lookup.timeout came from:\n{stdout}"
    );
}

/// A word that stands for something the reader fills in (`[--plugin F]`,
/// `<dir>`, `...`, `a|b`, `$VAR`): such a command is an outline, not one to parse.
fn is_placeholder(word: &str) -> bool {
    word.contains("...") || word.contains(['[', ']', '<', '>', '|', '$', '*'])
}

/// Runs every `enricher` command of `text`'s `bash` blocks with `--help`
/// appended; how many ran, and one message per command the binary refused.
/// With `outlines_allowed`, commands holding a placeholder are passed over.
fn refused_commands(name: &str, text: &str, outlines_allowed: bool) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let mut checked = 0;
    for block in bash_blocks(text) {
        for (line, command) in commands(&block) {
            for args in enricher_invocations(&command) {
                if outlines_allowed && args.iter().any(|a| is_placeholder(a)) {
                    continue;
                }
                checked += 1;
                let out = Command::new(binary())
                    .args(&args)
                    .arg("--help")
                    .env_remove("DUCKDB_URL")
                    .env_remove("ENRICHER_CONFIG")
                    .env("RUST_LOG", "warn")
                    .output()
                    .expect("run enricher");
                let stdout = String::from_utf8_lossy(&out.stdout);
                if !out.status.success() || !stdout.contains("Usage:") {
                    failures.push(format!(
                        "{name}:{line}: enricher {}\n    {}",
                        args.join(" "),
                        String::from_utf8_lossy(&out.stderr)
                            .trim()
                            .replace('\n', "\n    ")
                    ));
                }
            }
        }
    }
    (checked, failures)
}

#[test]
fn every_enricher_command_in_the_readme_parses() {
    let readme = std::fs::read_to_string(readme_path()).expect("README.md");
    let (checked, failures) = refused_commands("README.md", &readme, false);
    assert!(
        checked >= 15,
        "only {checked} enricher commands found in the README"
    );
    assert!(
        failures.is_empty(),
        "{} README command(s) the binary refuses:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The same for `docs/*.md` (not the dated benchmarks log, which keeps the
/// commands as they were run), leaving out outlines with placeholders.
#[test]
fn every_concrete_enricher_command_in_the_docs_parses() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&docs)
        .expect("docs/")
        .map(|e| e.expect("docs/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .filter(|p| !p.ends_with("benchmarks-log.md"))
        .collect();
    paths.sort();
    let (mut checked, mut failures) = (0, Vec::new());
    for path in paths {
        let name = format!(
            "docs/{}",
            path.file_name().expect("a name").to_string_lossy()
        );
        let text = std::fs::read_to_string(&path).expect("a doc");
        let (n, mut refused) = refused_commands(&name, &text, true);
        checked += n;
        failures.append(&mut refused);
    }
    assert!(
        checked >= 30,
        "only {checked} enricher commands found in docs/"
    );
    assert!(
        failures.is_empty(),
        "{} command(s) in docs/ the binary refuses:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn commands_are_split_as_a_shell_would() {
    assert_eq!(
        enricher_invocations(
            "LOOKUP_TIMEOUT=6s enricher config check --db 'a b.duckdb'   # a comment"
        ),
        [vec!["config", "check", "--db", "a b.duckdb"]]
    );
    assert_eq!(
        enricher_invocations("enricher generate --count 1 | enricher run --input - > out.jsonl"),
        [
            vec!["generate", "--count", "1"],
            vec!["run", "--input", "-"]
        ]
    );
    assert!(enricher_invocations("(cd x && cargo test)").is_empty());
    let block = Block {
        first_line: 10,
        run: false,
        lines: vec![
            "enricher run \\".into(),
            "    --input x".into(),
            "ls".into(),
        ],
    };
    let joined = commands(&block);
    assert_eq!(joined.len(), 2);
    assert_eq!((joined[0].0, joined[1].0), (10, 12));
    assert_eq!(words(&joined[0].1), ["enricher", "run", "--input", "x"]);
}
