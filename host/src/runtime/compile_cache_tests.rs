//! The compiled-component cache against the real default plugin and real engines.

use super::*;
use crate::runtime::{DEFAULT_PLUGIN, RAW_PLUGIN};

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("compile-cache-{}-{test}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn engine(epoch: bool) -> Engine {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(epoch);
    Engine::new(&config).expect("engine")
}

fn open(dir: PathBuf, engine: &Engine, flags: &str, max_bytes: u64) -> CompileCache {
    CompileCache::new(dir, engine, flags, max_bytes).expect("a private cache folder")
}

/// The folder's files but its key.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .expect("cache dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| !p.ends_with(".seal-key"))
        .collect();
    found.sort();
    found
}

#[test]
fn a_component_seen_before_is_loaded_from_its_entry() {
    let dir = scratch("hit");
    let engine = engine(true);
    let cache = open(dir.clone(), &engine, "test", DEFAULT_MAX_BYTES);
    let (_, first) = cache.load(&engine, DEFAULT_PLUGIN).expect("compile");
    assert_eq!(first, CacheOutcome::Miss);
    let entry = cache.entry_path(DEFAULT_PLUGIN);
    assert_eq!(
        entries(&dir),
        vec![entry.clone()],
        "one entry, no temporary file left"
    );
    let written = fs::read(&entry).expect("entry");
    // A new cache over the same folder, as after a restart.
    let cache = open(dir.clone(), &engine, "test", DEFAULT_MAX_BYTES);
    let (component, second) = cache.load(&engine, DEFAULT_PLUGIN).expect("load");
    assert_eq!(second, CacheOutcome::Hit);
    assert_eq!(
        fs::read(&entry).expect("entry"),
        written,
        "a hit does not rewrite"
    );
    assert!(
        component.component_type().exports(&engine).count() > 0,
        "the loaded component has its exports"
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_truncated_or_damaged_entry_is_ignored_and_rebuilt() {
    let dir = scratch("corrupt");
    let engine = engine(true);
    let cache = open(dir.clone(), &engine, "test", DEFAULT_MAX_BYTES);
    cache.load(&engine, DEFAULT_PLUGIN).expect("compile");
    let entry = cache.entry_path(DEFAULT_PLUGIN);
    let whole = fs::read(&entry).expect("entry");

    fs::write(&entry, &whole[..whole.len() / 2]).expect("truncate");
    let (_, outcome) = cache.load(&engine, DEFAULT_PLUGIN).expect("rebuilt");
    assert_eq!(outcome, CacheOutcome::Rebuilt);
    assert_eq!(
        fs::read(&entry).expect("entry").len(),
        whole.len(),
        "rewritten whole"
    );

    let mut damaged = whole.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0xff;
    fs::write(&entry, &damaged).expect("damage");
    let (_, outcome) = cache.load(&engine, DEFAULT_PLUGIN).expect("rebuilt");
    assert_eq!(outcome, CacheOutcome::Rebuilt);

    fs::write(&entry, b"").expect("empty");
    let (_, outcome) = cache.load(&engine, DEFAULT_PLUGIN).expect("rebuilt");
    assert_eq!(outcome, CacheOutcome::Rebuilt);
    let (_, outcome) = cache.load(&engine, DEFAULT_PLUGIN).expect("load");
    assert_eq!(outcome, CacheOutcome::Hit, "the rebuilt entry is good");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn another_engine_configuration_does_not_read_the_entry() {
    let dir = scratch("config");
    let (with_epoch, without_epoch) = (engine(true), engine(false));
    let first = open(dir.clone(), &with_epoch, "test", DEFAULT_MAX_BYTES);
    first.load(&with_epoch, DEFAULT_PLUGIN).expect("compile");

    // wasmtime's own settings (epoch checks compiled in or not) change the key...
    let second = open(dir.clone(), &without_epoch, "test", DEFAULT_MAX_BYTES);
    assert_ne!(
        first.entry_path(DEFAULT_PLUGIN),
        second.entry_path(DEFAULT_PLUGIN)
    );
    let (_, outcome) = second
        .load(&without_epoch, DEFAULT_PLUGIN)
        .expect("compile");
    assert_eq!(outcome, CacheOutcome::Miss);
    // ...and so do our own flags.
    let third = open(dir.clone(), &with_epoch, "perf-map", DEFAULT_MAX_BYTES);
    let (_, outcome) = third.load(&with_epoch, DEFAULT_PLUGIN).expect("compile");
    assert_eq!(outcome, CacheOutcome::Miss);
    assert_eq!(entries(&dir).len(), 3);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn the_folder_is_kept_under_its_bound_by_removing_the_oldest_entries() {
    let dir = scratch("evict");
    let engine = engine(true);
    let probe = open(dir.clone(), &engine, "size", DEFAULT_MAX_BYTES);
    probe.load(&engine, DEFAULT_PLUGIN).expect("compile");
    let one = fs::metadata(probe.entry_path(DEFAULT_PLUGIN))
        .expect("entry")
        .len();
    let _ = fs::remove_dir_all(&dir);

    // Room for two entries: the third evicts the one used longest ago.
    let cache = |flags: &str| open(dir.clone(), &engine, flags, 2 * one + one / 2);
    let (a, b, c) = (cache("a"), cache("b"), cache("c"));
    a.load(&engine, DEFAULT_PLUGIN).expect("a");
    std::thread::sleep(std::time::Duration::from_millis(20));
    b.load(&engine, DEFAULT_PLUGIN).expect("b");
    std::thread::sleep(std::time::Duration::from_millis(20));
    a.load(&engine, DEFAULT_PLUGIN)
        .expect("a again, now the most recent");
    std::thread::sleep(std::time::Duration::from_millis(20));
    c.load(&engine, DEFAULT_PLUGIN).expect("c");
    let left = entries(&dir);
    assert!(left.contains(&a.entry_path(DEFAULT_PLUGIN)), "{left:?}");
    assert!(!left.contains(&b.entry_path(DEFAULT_PLUGIN)), "{left:?}");
    assert!(left.contains(&c.entry_path(DEFAULT_PLUGIN)), "{left:?}");
    let _ = fs::remove_dir_all(&dir);
}

/// The export interfaces of a component (what tells a typed plugin from a raw one).
fn exports(engine: &Engine, component: &Component) -> Vec<String> {
    let ty = component.component_type();
    ty.exports(engine)
        .map(|(name, _)| name.to_owned())
        .collect()
}

#[test]
fn an_entry_swapped_for_another_components_code_is_refused_and_never_run() {
    let dir = scratch("swap");
    let engine = engine(true);
    let cache = open(dir.clone(), &engine, "test", DEFAULT_MAX_BYTES);
    let (raw, _) = cache.load(&engine, RAW_PLUGIN).expect("raw");
    let (typed, _) = cache.load(&engine, DEFAULT_PLUGIN).expect("typed");
    let (raw_exports, typed_exports) = (exports(&engine, &raw), exports(&engine, &typed));
    assert_ne!(raw_exports, typed_exports, "two different plugins");
    let victim = cache.entry_path(DEFAULT_PLUGIN);
    let other = fs::read(cache.entry_path(RAW_PLUGIN)).expect("raw entry");
    let artifact = &other[32..];
    // Whoever can write the folder: another component's whole entry, and the
    // same code with a fresh sha256 in front (what the v1 layout checked).
    let mut with_digest = Sha256::digest(artifact).to_vec();
    with_digest.extend_from_slice(artifact);
    for forged in [other.clone(), with_digest] {
        fs::write(&victim, &forged).expect("swap");
        let (component, outcome) = cache.load(&engine, DEFAULT_PLUGIN).expect("rebuilt");
        assert_eq!(
            outcome,
            CacheOutcome::Rebuilt,
            "the swapped entry is refused"
        );
        assert_eq!(
            exports(&engine, &component),
            typed_exports,
            "the signed code runs"
        );
        assert_ne!(fs::read(&victim).expect("entry"), forged, "and is rebuilt");
    }
    // A new host key (another machine's folder copied in) refuses all entries.
    fs::remove_file(dir.join(".seal-key")).expect("key");
    let fresh = open(dir.clone(), &engine, "test", DEFAULT_MAX_BYTES);
    let (_, outcome) = fresh.load(&engine, RAW_PLUGIN).expect("raw");
    assert_eq!(outcome, CacheOutcome::Rebuilt);
    let _ = fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn a_folder_or_entry_others_may_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("shared");
    let engine = engine(true);
    let cache = open(dir.clone(), &engine, "test", DEFAULT_MAX_BYTES);
    cache.load(&engine, DEFAULT_PLUGIN).expect("compile");
    let entry = cache.entry_path(DEFAULT_PLUGIN);
    assert_eq!(
        fs::metadata(&entry).expect("entry").permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        fs::metadata(dir.join(".seal-key"))
            .expect("key")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    // An entry others may write is not read.
    fs::set_permissions(&entry, fs::Permissions::from_mode(0o666)).expect("chmod");
    let (_, outcome) = cache.load(&engine, DEFAULT_PLUGIN).expect("rebuilt");
    assert_eq!(outcome, CacheOutcome::Rebuilt);
    // A folder others may write is refused with the way out.
    for mode in [0o777, 0o770, 0o1777] {
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).expect("chmod");
        match CompileCache::new(dir.clone(), &engine, "test", DEFAULT_MAX_BYTES) {
            Err(CacheRefused::Unsafe(why)) => {
                assert!(why.contains(&dir.display().to_string()), "{why}");
                assert!(why.contains("writable by group or others"), "{why}");
                assert!(why.contains("ENRICHER_CACHE_DIR"), "{why}");
            }
            other => panic!("mode {mode:o}: {:?}", other.map(|_| ())),
        }
    }
    let _ = fs::remove_dir_all(&dir);
}
