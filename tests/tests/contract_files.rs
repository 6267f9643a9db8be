//! One source for every contract file: the WIT package lives in `wit/` (the
//! current version) and `wit/released/<v>/` (frozen released versions).
//! Anything else that holds WIT files must be a byte-for-byte copy of the
//! version it declares, and the plugin templates name no version of their
//! own (`plugin new` fills `{{wit_version}}` from `wit/`).

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

/// Every file under `dir` but build outputs, installed packages and dot folders.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || matches!(name.as_str(), "target" | "node_modules" | "out") {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The version in `package payments:enrichment@X.Y.Z;`, if the text declares it.
fn package_version(text: &str) -> Option<&str> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("package payments:enrichment@"))
        .and_then(|v| v.strip_suffix(';'))
}

/// The version of the package a WIT folder holds (one of its own files declares it).
fn folder_version(dir: &Path) -> String {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "wit"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .find_map(|text| package_version(&text).map(str::to_owned))
        .unwrap_or_else(|| panic!("{} declares no package version", dir.display()))
}

#[test]
fn every_wit_file_outside_wit_is_an_exact_copy_of_its_version() {
    let root = root();
    let current = folder_version(&root.join("wit"));
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut checked = 0;
    let mut wrong = Vec::new();
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "wit"))
    {
        let relative = file.strip_prefix(&root).expect("under the root");
        if relative.starts_with("wit") {
            continue;
        }
        let folder = file.parent().expect("a folder");
        let version = folder_version(folder);
        let source = if version == current {
            root.join("wit")
        } else {
            root.join("wit/released").join(&version)
        };
        let original = source.join(file.file_name().expect("a name"));
        checked += 1;
        if std::fs::read(file).ok() != std::fs::read(&original).ok() {
            wrong.push(format!(
                "{} differs from {}",
                relative.display(),
                original.display()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "copies that drifted from their version:\n{}",
        wrong.join("\n")
    );
    eprintln!("{checked} WIT file(s) outside wit/, all exact copies");
}

#[test]
fn every_released_version_declares_itself() {
    let released = root().join("wit/released");
    let mut versions = Vec::new();
    for entry in std::fs::read_dir(&released)
        .expect("wit/released")
        .filter_map(Result::ok)
    {
        if !entry.path().is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        assert_eq!(folder_version(&entry.path()), name, "wit/released/{name}");
        versions.push(name);
    }
    assert!(versions.len() >= 2, "{versions:?}");
    let current = folder_version(&root().join("wit"));
    assert!(
        !versions.contains(&current),
        "the current version {current} is not frozen yet"
    );
}

#[test]
fn templates_name_no_wit_version_of_their_own() {
    let mut files = Vec::new();
    walk(&root().join("guest/templates"), &mut files);
    let mut pinned = Vec::new();
    for file in &files {
        if file.extension().is_some_and(|e| e == "wit") {
            pinned.push(format!(
                "{}: a WIT copy (plugin new writes wit/)",
                file.display()
            ));
            continue;
        }
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            let versioned = line.match_indices("payments:enrichment").any(|(at, _)| {
                let rest = &line[at..];
                rest.find('@').is_some_and(|i| {
                    rest[i + 1..].starts_with(|c: char| c.is_ascii_digit())
                        && !rest[..i].contains(char::is_whitespace)
                })
            });
            if versioned || line.contains("WIT 1.") {
                pinned.push(format!("{}:{}: {line}", file.display(), n + 1));
            }
        }
    }
    assert!(
        pinned.is_empty(),
        "use {{{{wit_version}}}}:\n{}",
        pinned.join("\n")
    );
    assert!(files.len() > 10, "the templates were walked");
}
