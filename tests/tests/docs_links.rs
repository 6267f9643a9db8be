//! Every relative link in `README.md` and `docs/*.md` resolves: the file or
//! folder it names exists, and a `#anchor` names a heading of its target
//! (by GitHub's slug rules). Links inside code (fenced blocks, `code spans`)
//! are not links and are left alone; `http(s):` and `mailto:` links are not
//! checked (no network in tests).
//!
//! A failure lists every broken link with its file and line.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The repository's root (this crate is `tests/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repository root")
}

/// `README.md` and every `docs/*.md`.
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut docs = vec![root.join("README.md")];
    let mut in_docs: Vec<PathBuf> = fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.expect("docs/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    in_docs.sort();
    docs.extend(in_docs);
    docs
}

/// The lines of `text` outside fenced code blocks, with their 1-based numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<&str> = None;
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match fence {
            Some(marker) => {
                if trimmed.starts_with(marker) {
                    fence = None;
                }
            }
            None if trimmed.starts_with("```") => fence = Some("```"),
            None if trimmed.starts_with("~~~") => fence = Some("~~~"),
            None => lines.push((i + 1, line)),
        }
    }
    lines
}

/// `line` with its code spans blanked out (a link inside backticks is code).
fn without_code_spans(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_code = false;
    for c in line.chars() {
        if c == '`' {
            in_code = !in_code;
            out.push(' ');
        } else if in_code {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

/// The targets of the inline links and images of one line: `[text](target)`,
/// `![alt](target "title")`, and of a reference definition `[label]: target`.
fn link_targets(line: &str) -> Vec<String> {
    let line = without_code_spans(line);
    let mut targets = Vec::new();
    if let Some(rest) = line.trim_start().strip_prefix('[')
        && let Some(end) = rest.find("]:")
    {
        let target = rest[end + 2..].split_whitespace().next().unwrap_or("");
        targets.push(target.trim_matches(['<', '>']).to_owned());
    }
    let mut rest = line.as_str();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        // The target runs to the `)` that balances the `(`.
        let mut depth = 0usize;
        let mut end = after.len();
        for (i, c) in after.char_indices() {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 => {
                    end = i;
                    break;
                }
                ')' => depth -= 1,
                _ => {}
            }
        }
        let inner = after[..end].trim();
        let target = if let Some(angled) = inner.strip_prefix('<') {
            angled.split('>').next().unwrap_or("")
        } else {
            inner.split_whitespace().next().unwrap_or("")
        };
        targets.push(target.to_owned());
        rest = &after[end.min(after.len())..];
    }
    targets
}

/// GitHub's anchor for a heading's text: the rendered text lower-cased,
/// everything but letters, digits, `-`, `_` and spaces removed, spaces made
/// `-`. Markdown in the heading is reduced to its text first (code spans keep
/// their content, links their text, emphasis markers go).
fn slug(heading: &str) -> String {
    let mut text = String::new();
    let mut rest = heading;
    // Links: keep the text of `[text](target)`.
    while let Some(open) = rest.find('[') {
        text.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find("](") {
            Some(close) => {
                text.push_str(&after[..close]);
                let target = &after[close + 2..];
                rest = target.find(')').map_or("", |e| &target[e + 1..]);
            }
            None => {
                text.push('[');
                rest = after;
            }
        }
    }
    text.push_str(rest);
    text.chars()
        .filter_map(|c| {
            if c == ' ' {
                Some('-')
            } else if c.is_alphanumeric() || c == '-' || c == '_' {
                Some(c)
            } else {
                None
            }
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// The anchors of a Markdown file's headings (ATX `#` headings outside code),
/// numbered as GitHub numbers repeated ones (`x`, `x-1`, `x-2`).
fn anchors(text: &str) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut anchors = Vec::new();
    for (_, line) in prose_lines(text) {
        let trimmed = line.trim_start();
        let level = trimmed.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&level) || !trimmed[level..].starts_with(' ') {
            continue;
        }
        let heading = trimmed[level..].trim().trim_end_matches('#').trim();
        let base = slug(heading);
        let n = seen.entry(base.clone()).or_insert(0);
        anchors.push(if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        });
        *n += 1;
    }
    anchors
}

/// What is wrong with `target`, linked from `doc`, if anything.
fn broken(doc: &Path, target: &str) -> Option<String> {
    if target.is_empty() {
        return Some("empty link target".to_owned());
    }
    let lower = target.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("mailto:")
    {
        return None;
    }
    if target.contains("://") {
        return Some("a scheme other than http(s) or mailto".to_owned());
    }
    let (path, anchor) = match target.split_once('#') {
        Some((path, anchor)) => (path, Some(anchor)),
        None => (target, None),
    };
    let file = if path.is_empty() {
        doc.to_path_buf()
    } else if path.starts_with('/') {
        return Some("an absolute path (use a path relative to the document)".to_owned());
    } else {
        doc.parent().expect("document folder").join(path)
    };
    if !file.exists() {
        return Some(format!("{} does not exist", file.display()));
    }
    let anchor = anchor?;
    if file.extension().is_none_or(|e| e != "md") {
        return Some(format!("#{anchor} on a file that is not Markdown"));
    }
    let text = fs::read_to_string(&file).expect("read the link's target");
    if anchors(&text).iter().any(|a| a == anchor) {
        None
    } else {
        Some(format!(
            "no heading with the anchor #{anchor} in {}",
            file.display()
        ))
    }
}

#[test]
fn every_relative_link_in_the_readme_and_docs_resolves() {
    let root = root();
    let mut problems = Vec::new();
    let mut checked = 0;
    for doc in documents(&root) {
        let text = fs::read_to_string(&doc).expect("read a document");
        let name = doc
            .strip_prefix(&root)
            .unwrap_or(&doc)
            .display()
            .to_string();
        for (number, line) in prose_lines(&text) {
            for target in link_targets(line) {
                checked += 1;
                if let Some(why) = broken(&doc, &target) {
                    problems.push(format!("{name}:{number}: ({target}): {why}"));
                }
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} links found: is the parser right?"
    );
    assert!(
        problems.is_empty(),
        "{} broken link(s) in README.md and docs/:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn slugs_follow_github() {
    assert_eq!(
        slug("Typed plugins (WIT 1.2.0): when the host does the generic work"),
        "typed-plugins-wit-120-when-the-host-does-the-generic-work"
    );
    assert_eq!(
        slug("Command line: where output goes, `--help`, `config check`"),
        "command-line-where-output-goes---help-config-check"
    );
    assert_eq!(
        slug("Where the WASM gap is (profiled with `perf` and `ENRICHER_PERF_MAP=1`)"),
        "where-the-wasm-gap-is-profiled-with-perf-and-enricher_perf_map1"
    );
    assert_eq!(slug("See [the log](log.md) now"), "see-the-log-now");
    assert_eq!(
        anchors("# A\n```\n# not a heading\n```\n## A\n### A b\n"),
        ["a", "a-1", "a-b"]
    );
}

#[test]
fn links_are_found_outside_code_only() {
    assert_eq!(
        link_targets("see [a](x.md#y) and ![b](img.png \"t\"), not `[c](z.md)`"),
        ["x.md#y", "img.png"]
    );
    assert_eq!(link_targets("[ref]: docs/a.md"), ["docs/a.md"]);
    assert!(prose_lines("```\n[a](b)\n```\ntext").len() == 1);
}
