//! The compiled-component cache against the real default plugin and real engines.

use super::*;
use crate::runtime::DEFAULT_PLUGIN;

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

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .expect("cache dir")
        .map(|e| e.expect("entry").path())
        .collect();
    found.sort();
    found
}

#[test]
fn a_component_seen_before_is_loaded_from_its_entry() {
    let dir = scratch("hit");
    let engine = engine(true);
    let cache = CompileCache::new(dir.clone(), &engine, "test", DEFAULT_MAX_BYTES);
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
    let cache = CompileCache::new(dir.clone(), &engine, "test", DEFAULT_MAX_BYTES);
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
    let cache = CompileCache::new(dir.clone(), &engine, "test", DEFAULT_MAX_BYTES);
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
    let first = CompileCache::new(dir.clone(), &with_epoch, "test", DEFAULT_MAX_BYTES);
    first.load(&with_epoch, DEFAULT_PLUGIN).expect("compile");

    // wasmtime's own settings (epoch checks compiled in or not) change the key...
    let second = CompileCache::new(dir.clone(), &without_epoch, "test", DEFAULT_MAX_BYTES);
    assert_ne!(
        first.entry_path(DEFAULT_PLUGIN),
        second.entry_path(DEFAULT_PLUGIN)
    );
    let (_, outcome) = second
        .load(&without_epoch, DEFAULT_PLUGIN)
        .expect("compile");
    assert_eq!(outcome, CacheOutcome::Miss);
    // ...and so do our own flags.
    let third = CompileCache::new(dir.clone(), &with_epoch, "perf-map", DEFAULT_MAX_BYTES);
    let (_, outcome) = third.load(&with_epoch, DEFAULT_PLUGIN).expect("compile");
    assert_eq!(outcome, CacheOutcome::Miss);
    assert_eq!(entries(&dir).len(), 3);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn the_folder_is_kept_under_its_bound_by_removing_the_oldest_entries() {
    let dir = scratch("evict");
    let engine = engine(true);
    let probe = CompileCache::new(dir.clone(), &engine, "size", DEFAULT_MAX_BYTES);
    probe.load(&engine, DEFAULT_PLUGIN).expect("compile");
    let one = fs::metadata(probe.entry_path(DEFAULT_PLUGIN))
        .expect("entry")
        .len();
    let _ = fs::remove_dir_all(&dir);

    // Room for two entries: the third evicts the one used longest ago.
    let cache = |flags: &str| CompileCache::new(dir.clone(), &engine, flags, 2 * one + one / 2);
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
