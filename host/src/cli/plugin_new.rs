//! `enricher plugin new <NAME> [--lang rust|python|js] [--typed]`: write a
//! ready plugin project from the templates embedded in the binary
//! (`guest/templates/<lang>/`, `{{name}}` replaced in file contents and names,
//! `{{wit_version}}` in contents by the version of the WIT package in `wit/`;
//! a template's dotfiles such as `.gitignore` are written too, dot folders
//! are not). `--typed` writes a plugin on the typed world (`typed-enricher`):
//! the template `<lang>/` with `<lang>-typed/`'s files written over it (only
//! Rust has one: the plugin, its manifest, README and sample differ).
//!
//! The SDK is not on a registry, so a Rust project also gets the SDK's
//! source (`vendor/sdk/`, `vendor/model/`) and every project the WIT files
//! of the host's world (`wit/`): it builds anywhere, with no checkout of ours.

use std::path::{Path, PathBuf};

use anyhow::Context;
use include_dir::{Dir, DirEntry, include_dir};

static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../guest/templates");
static SDK: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../guest/sdk");
static MODEL: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../guest/model");
static WIT: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../wit");

/// The languages `plugin new` and `plugin build` know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

impl Lang {
    fn dir(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
        }
    }
}

#[derive(clap::Args)]
pub struct NewArgs {
    /// The plugin's name: lowercase letters, digits and `-`, starting with a letter.
    pub name: String,
    /// The plugin's language: rust (the SDK), python (componentize-py) or js (jco).
    #[arg(long, value_enum, default_value = "rust")]
    pub lang: Lang,
    /// Where to write the project (default: ./NAME). Must not exist yet.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// A typed plugin (world `typed-enricher`, rust only): the host parses each
    /// payment event, looks its claim up and writes the output; the plugin
    /// decides each payment's outcome. Default: a raw-bytes plugin (`enricher`).
    #[arg(long)]
    pub typed: bool,
}

pub fn run(args: NewArgs) -> anyhow::Result<()> {
    check_name(&args.name).map_err(anyhow::Error::msg)?;
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(&args.name));
    let written = write_project(&dir, &args.name, args.lang, args.typed)?;
    println!(
        "wrote {} files into {}: edit the plugin, then\n  enricher plugin build {}\n  \
         enricher plugin test <the .wasm it prints> --input {}/sample/input.jsonl \
         --claims {}/sample/claims.csv --expect {}/sample/expected.jsonl",
        written,
        dir.display(),
        dir.display(),
        dir.display(),
        dir.display(),
        dir.display()
    );
    Ok(())
}

/// A name that is a valid crate, package and file name everywhere.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "plugin name {name:?}: use lowercase letters, digits and `-` (at most 64, starting with a letter)"
        ))
    }
}

/// Write the project for `lang` (on the typed world if `typed`) into `dir`
/// (which must not exist); returns how many files were written.
pub fn write_project(dir: &Path, name: &str, lang: Lang, typed: bool) -> anyhow::Result<usize> {
    let template = pick(&TEMPLATES, lang.dir())?;
    let overlay = if typed {
        let typed_dir = format!("{}-typed", lang.dir());
        let found = pick(&TEMPLATES, &typed_dir);
        Some(found.map_err(|_| {
            anyhow::anyhow!("no typed template for {} (--typed: rust only)", lang.dir())
        })?)
    } else {
        None
    };
    anyhow::ensure!(
        !dir.exists(),
        "{} already exists: choose another name or --dir",
        dir.display()
    );
    let mut written = 0;
    // The overlay's files replace the base's of the same path.
    let mut replaced = std::collections::BTreeSet::new();
    for template in [Some(template), overlay].into_iter().flatten() {
        for file in template_files(template) {
            let relative = strip(file.path(), template.path());
            let relative = PathBuf::from(relative.to_string_lossy().replace("{{name}}", name));
            let contents = match file.contents_utf8() {
                Some(text) => text
                    .replace("{{name}}", name)
                    .replace("{{wit_version}}", wit_version())
                    .into_bytes(),
                None => file.contents().to_vec(),
            };
            write(&dir.join(&relative), &contents)?;
            if replaced.insert(relative) {
                written += 1;
            }
        }
    }
    // Only the world's own files, not the frozen released versions.
    for file in WIT.files().filter(|f| !is_dotfile(f.path())) {
        write(&dir.join("wit").join(file.path()), file.contents())?;
        written += 1;
    }
    if lang == Lang::Rust {
        for (crate_dir, to) in [(&SDK, "vendor/sdk"), (&MODEL, "vendor/model")] {
            for file in files(crate_dir) {
                write(&dir.join(to).join(file.path()), file.contents())?;
                written += 1;
            }
        }
    }
    Ok(written)
}

/// The version of the WIT package the host implements (`package payments:enrichment@X.Y.Z;`
/// in `wit/world.wit`): the version a new project imports.
pub fn wit_version() -> &'static str {
    WIT.get_file("world.wit")
        .and_then(|f| f.contents_utf8())
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.trim().strip_prefix("package payments:enrichment@"))
        })
        .and_then(|v| v.strip_suffix(';'))
        .expect("wit/world.wit declares `package payments:enrichment@X.Y.Z;` (embedded at build)")
}

/// The template folder `lang` under `root`, if it holds any file but dotfiles.
fn pick<'a>(root: &'a Dir<'a>, lang: &str) -> anyhow::Result<&'a Dir<'a>> {
    root.get_dir(lang)
        .filter(|t| files(t).next().is_some())
        .with_context(|| format!("no template for {lang}"))
}

/// Every file of a template, recursively, its dotfiles (`.gitignore`) too,
/// but nothing under a dot folder.
fn template_files<'a>(
    dir: &'a Dir<'a>,
) -> Box<dyn Iterator<Item = &'a include_dir::File<'a>> + 'a> {
    Box::new(dir.entries().iter().flat_map(|e| match e {
        DirEntry::Dir(d) if is_dotfile(d.path()) => Box::new(std::iter::empty()),
        DirEntry::Dir(d) => template_files(d),
        DirEntry::File(f) => Box::new(std::iter::once(f)),
    }))
}

/// Every file under `dir`, recursively, but dotfiles and anything under a dot folder.
fn files<'a>(dir: &'a Dir<'a>) -> Box<dyn Iterator<Item = &'a include_dir::File<'a>> + 'a> {
    Box::new(
        dir.entries()
            .iter()
            .filter(|e| !is_dotfile(e.path()))
            .flat_map(|e| match e {
                DirEntry::Dir(d) => files(d),
                DirEntry::File(f) => Box::new(std::iter::once(f)),
            }),
    )
}

fn is_dotfile(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

fn strip<'a>(path: &'a Path, base: &Path) -> &'a Path {
    path.strip_prefix(base).unwrap_or(path)
}

fn write(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_crate_and_file_safe() {
        assert!(check_name("fraud-score").is_ok());
        assert!(check_name("x").is_ok());
        for bad in ["", "Fraud", "1x", "a_b", "a/b", "../x", "x-", "a b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_template_of_only_dotfiles_is_no_template() {
        static ROOT: Dir<'static> = Dir::new(
            "",
            &[DirEntry::Dir(Dir::new(
                "python",
                &[DirEntry::File(include_dir::File::new("python/.keep", b""))],
            ))],
        );
        let err = pick(&ROOT, "python").expect_err("only a placeholder");
        assert_eq!(err.to_string(), "no template for python");
        assert!(pick(&ROOT, "js").is_err());
        assert!(pick(&TEMPLATES, "rust").is_ok());
    }

    #[test]
    fn the_rust_project_carries_the_sdk_and_the_world() {
        let dir = std::env::temp_dir().join(format!("enricher-new-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let n = write_project(&dir, "fraud-score", Lang::Rust, false).expect("written");
        assert!(n > 10);
        for file in [
            "Cargo.toml",
            "src/lib.rs",
            "sample/input.jsonl",
            "sample/claims.csv",
            "sample/expected.jsonl",
            "vendor/sdk/src/lib.rs",
            "vendor/model/src/lib.rs",
            "wit/world.wit",
        ] {
            assert!(dir.join(file).exists(), "{file}");
        }
        assert!(!dir.join("wit/released").exists());
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("manifest");
        assert!(manifest.contains("name = \"fraud-score\""), "{manifest}");
        assert!(!manifest.contains("{{name}}"));
        let again = write_project(&dir, "fraud-score", Lang::Rust, false);
        assert!(again.is_err(), "never writes over a folder");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_typed_rust_project_is_the_rust_one_with_the_typed_plugin_over_it() {
        let dir = std::env::temp_dir().join(format!("enricher-new-typed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write_project(&dir, "fraud-tag", Lang::Rust, true).expect("written");
        let lib = std::fs::read_to_string(dir.join("src/lib.rs")).expect("lib.rs");
        assert!(
            lib.contains("enricher_sdk::export_typed!(MyPlugin);"),
            "{lib}"
        );
        assert!(
            lib.contains("const NAME: &'static str = \"fraud-tag\";"),
            "{lib}"
        );
        for file in [
            "Cargo.lock",
            "rust-toolchain.toml",
            "sample/claims.csv",
            "vendor/sdk/src/typed/mod.rs",
        ] {
            assert!(
                dir.join(file).exists(),
                "{file} from the rust template and the SDK"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
        let err = write_project(&dir, "fraud-tag", Lang::Python, true).expect_err("rust only");
        assert_eq!(
            err.to_string(),
            "no typed template for python (--typed: rust only)"
        );
        assert!(!dir.exists(), "nothing written");
    }

    #[test]
    fn templates_import_the_wit_package_the_host_implements() {
        assert_eq!(wit_version().split('.').count(), 3, "{}", wit_version());
        for (lang, file) in [(Lang::Js, "plugin.js"), (Lang::Python, "app.py")] {
            let dir = std::env::temp_dir().join(format!(
                "enricher-new-version-{}-{}",
                lang.dir(),
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            write_project(&dir, "fraud-score", lang, false).expect("written");
            let text = std::fs::read_to_string(dir.join(file)).expect("the plugin file");
            let imported = format!("payments:enrichment/enricher@{}", wit_version());
            assert!(text.contains(&imported), "{file}: {text}");
            assert!(
                !text.contains("{{"),
                "{file} has a placeholder left: {text}"
            );
            let world = std::fs::read_to_string(dir.join("wit/world.wit")).expect("the world");
            assert!(world.contains(&format!("@{};", wit_version())));
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    #[test]
    fn a_template_s_gitignore_is_written_with_the_project() {
        for (lang, ignored) in [(Lang::Python, "__pycache__/"), (Lang::Js, "node_modules/")] {
            let dir = std::env::temp_dir().join(format!(
                "enricher-new-dot-{}-{}",
                lang.dir(),
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            write_project(&dir, "fraud-score", lang, false).expect("written");
            let gitignore = std::fs::read_to_string(dir.join(".gitignore"))
                .unwrap_or_else(|e| panic!("{lang:?} project has no .gitignore: {e}"));
            assert!(gitignore.contains(ignored), "{lang:?}: {gitignore}");
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    #[test]
    fn nothing_under_a_dot_folder_of_a_template_is_written() {
        static ROOT: Dir<'static> = Dir::new(
            "t",
            &[
                DirEntry::File(include_dir::File::new("t/.gitignore", b"out/")),
                DirEntry::File(include_dir::File::new("t/app.py", b"")),
                DirEntry::Dir(Dir::new(
                    "t/.venv",
                    &[DirEntry::File(include_dir::File::new("t/.venv/x", b""))],
                )),
            ],
        );
        let mut names: Vec<String> = template_files(&ROOT)
            .map(|f| f.path().display().to_string())
            .collect();
        names.sort();
        assert_eq!(names, ["t/.gitignore", "t/app.py"]);
    }
}
