//! The plugin samples the docs show are the ones `cargo test` runs: every
//! ```` ```rust ```` block of `docs/plugins.md` must appear, line for line, in
//! a doc-test of the SDK (`guest/sdk/src/lib.rs`, `guest/sdk/src/typed/mod.rs`),
//! where it is compiled and run against a claims stub. Edit one, edit both.

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The ```` ```rust ```` blocks of a Markdown text, with their first line.
fn rust_blocks(text: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if current.is_some() && trimmed.starts_with("```") {
            blocks.extend(current.take());
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        } else if trimmed == "```rust" {
            current = Some((i + 2, String::new()));
        }
    }
    blocks
}

/// The text of a file's `//!` comments, the comment markers removed.
fn module_docs(text: &str) -> String {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_rust_sample_in_the_plugin_docs_is_an_sdk_doc_test() {
    let root = root();
    let docs = fs::read_to_string(root.join("docs/plugins.md")).expect("docs/plugins.md");
    let tested: Vec<String> = ["guest/sdk/src/lib.rs", "guest/sdk/src/typed/mod.rs"]
        .iter()
        .map(|f| module_docs(&fs::read_to_string(root.join(f)).expect("an SDK source")))
        .collect();
    let blocks = rust_blocks(&docs);
    assert!(
        blocks.len() >= 2,
        "docs/plugins.md should show the two plugins"
    );
    let untested: Vec<String> = blocks
        .iter()
        .filter(|(_, body)| !tested.iter().any(|t| t.contains(body.trim())))
        .map(|(line, body)| {
            let first = body.lines().next().unwrap_or("");
            format!("docs/plugins.md:{line}: {first}")
        })
        .collect();
    assert!(
        untested.is_empty(),
        "Rust samples in docs/plugins.md that no SDK doc-test runs (copy them into the \
         doc comment of guest/sdk/src/lib.rs or guest/sdk/src/typed/mod.rs):\n{}",
        untested.join("\n")
    );
}
