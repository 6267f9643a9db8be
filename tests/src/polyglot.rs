//! The Python and JavaScript plugins (`plugins/python`, `plugins/js`) as
//! components, built on first use with the toolchains `scripts/plugin-toolchains`
//! installs (componentize-py; jco with componentize-js) by the exact commands
//! `enricher plugin build` runs, and cached next to the test binaries by a hash
//! of their sources and the toolchain's pinned versions. A missing toolchain
//! fails the test with the command to run: never a silent skip.
//!
//! The two plugins are WIT 1.1.0 plugins (old plugins keep running): they
//! are built against the frozen `wit/released/1.1.0`, not a copy of it.
//!
//! A "looping" variant adds one line to the plugin: a record holding
//! `"chaos":"loop"` spins forever, for the sandbox's CPU deadline.

use enricher::toolchain::{ScriptLang, componentize_command};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// Which language's plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Python,
    Js,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Python, Lang::Js];

    fn dir(self) -> &'static str {
        match self {
            Lang::Python => "python",
            Lang::Js => "js",
        }
    }

    /// The name (and version) the plugin reports.
    pub fn plugin_name(self) -> &'static str {
        match self {
            Lang::Python => "payment-enrichment-python",
            Lang::Js => "payment-enrichment-js",
        }
    }

    /// `name@version`, the deployer's key.
    pub fn key(self) -> String {
        format!("{}@0.1.0", self.plugin_name())
    }
}

/// A variant of the plugin source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The plugin as shipped.
    Plain,
    /// Spins forever on a record holding `"chaos":"loop"`.
    Looping,
}

/// The component of `lang`'s plugin (built if its sources changed).
pub fn plugin(lang: Lang) -> PathBuf {
    build(lang, Variant::Plain)
}

/// The component of `lang`'s plugin that loops on `{"chaos":"loop"}`.
pub fn looping_plugin(lang: Lang) -> PathBuf {
    build(lang, Variant::Looping)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

/// `$ENRICHER_TOOLCHAINS` or `~/.cache/enricher-toolchains`, as the script has it.
fn toolchains() -> PathBuf {
    match std::env::var_os("ENRICHER_TOOLCHAINS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
            .join(".cache/enricher-toolchains"),
    }
}

/// The tool binary and the stamp naming its pinned version, or a failure naming the script.
fn tool(lang: Lang) -> (PathBuf, String) {
    let base = toolchains().join(lang.dir());
    let bin = match lang {
        Lang::Python => base.join("bin/componentize-py"),
        Lang::Js => base.join("node_modules/.bin/jco"),
    };
    let stamp = std::fs::read_to_string(base.join(".installed")).unwrap_or_default();
    assert!(
        bin.exists() && !stamp.is_empty(),
        "the {lang:?} plugin toolchain is not installed at {}: run scripts/plugin-toolchains \
         (scripts/test runs it; set ENRICHER_TOOLCHAINS if it lives elsewhere)",
        base.display()
    );
    (bin, stamp)
}

/// FNV-1a over `bytes`, folded into `h` (a cache key, not a security boundary).
fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Every file under `dir` except build outputs, sorted, relative to `dir`.
fn sources(dir: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir.join(rel))
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.join(rel).display()))
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    entries.sort();
    for name in entries {
        if matches!(
            name.to_str(),
            Some("target" | "__pycache__" | "node_modules")
        ) {
            continue;
        }
        let path = rel.join(&name);
        if dir.join(&path).is_dir() {
            sources(dir, &path, out);
        } else {
            out.push(path);
        }
    }
}

/// Change the copied source for `variant`; fails if the plugin's source lost the hook.
fn apply_variant(lang: Lang, variant: Variant, dir: &Path) {
    if variant == Variant::Plain {
        return;
    }
    match lang {
        Lang::Python => {
            std::fs::rename(dir.join("app.py"), dir.join("app_base.py")).expect("rename app.py");
            std::fs::write(
                dir.join("app.py"),
                "from app_base import Transform as _Base\n\n\n\
                 class Transform(_Base):\n\
                 \x20   def process_batch(self, context, records):\n\
                 \x20       if any(b'\"chaos\":\"loop\"' in r.value for r in records):\n\
                 \x20           while True:\n\
                 \x20               pass\n\
                 \x20       return super().process_batch(context, records)\n",
            )
            .expect("write the looping app.py");
        }
        Lang::Js => {
            let file = dir.join("plugin.js");
            let source = std::fs::read_to_string(&file).expect("read plugin.js");
            let hook = "processBatch(context, records) {";
            assert!(source.contains(hook), "plugin.js has no `{hook}`");
            let looping = source.replacen(
                hook,
                &format!(
                    "{hook}\n    if (records.some((r) => new TextDecoder().decode(r.value).includes('\"chaos\":\"loop\"'))) {{ for (;;) {{}} }}"
                ),
                1,
            );
            std::fs::write(&file, looping).expect("write the looping plugin.js");
        }
    }
}

/// The WIT package the polyglot plugins are written against (frozen).
const PLUGIN_WIT: &str = "wit/released/1.1.0";

fn build(lang: Lang, variant: Variant) -> PathBuf {
    // One build at a time in this process; across processes the rename below is atomic.
    static BUILDING: Mutex<()> = Mutex::new(());
    let _one = BUILDING.lock().unwrap_or_else(PoisonError::into_inner);
    let (bin, stamp) = tool(lang);
    let source_dir = workspace_root().join("plugins").join(lang.dir());
    let mut files = Vec::new();
    sources(&source_dir, Path::new(""), &mut files);
    let mut hash = fnv(0xcbf2_9ce4_8422_2325, stamp.as_bytes());
    hash = fnv(hash, format!("{variant:?}").as_bytes());
    let wit = workspace_root().join(PLUGIN_WIT);
    let mut wit_files = Vec::new();
    sources(&wit, Path::new(""), &mut wit_files);
    for (dir, f) in files
        .iter()
        .map(|f| (&source_dir, f))
        .chain(wit_files.iter().map(|f| (&wit, f)))
    {
        hash = fnv(hash, f.to_string_lossy().as_bytes());
        hash = fnv(
            hash,
            &std::fs::read(dir.join(f)).expect("read plugin source"),
        );
    }
    // Next to the test binaries: <target>/release/polyglot-plugins/.
    let exe = std::env::current_exe().expect("test binary path");
    let cache = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/release/deps/<test>")
        .join("polyglot-plugins");
    let name = format!("{}-{variant:?}-{hash:016x}", lang.plugin_name()).to_lowercase();
    let out = cache.join(format!("{name}.wasm"));
    if out.exists() {
        return out;
    }
    let work = cache.join(format!("{name}.src-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    for f in &files {
        let to = work.join(f);
        std::fs::create_dir_all(to.parent().expect("a parent")).expect("create build dir");
        std::fs::copy(source_dir.join(f), &to).expect("copy plugin source");
    }
    apply_variant(lang, variant, &work);
    let built = work.join("target/plugin.wasm");
    std::fs::create_dir_all(built.parent().expect("a parent")).expect("create target dir");
    let started = std::time::Instant::now();
    let script = match lang {
        Lang::Python => ScriptLang::Python,
        Lang::Js => ScriptLang::Js,
    };
    let output = componentize_command(script, &bin, &work, &wit, &built)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
    assert!(
        output.status.success() && built.exists(),
        "building the {lang:?} plugin failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!(
        "built the {lang:?} plugin ({variant:?}) in {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        out.display()
    );
    std::fs::rename(&built, &out).expect("move the component into the cache");
    let _ = std::fs::remove_dir_all(&work);
    out
}
