//! The plugin sandbox: a CPU deadline per call, a memory cap per instance, and
//! trap isolation. A misbehaving plugin (`plugins/chaos`) never takes the host
//! down: the poisonous record goes to `failed` as PLUGIN_TRAP with its payload,
//! the rest of the batch goes through, and nothing is lost.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use enricher::config::CacheMode;
use enricher::error::StoreError;
use enricher::lookup::{ClaimRow, ClaimsLookup, ClaimsStore, DuckDbStore};
use enricher::pipeline::Pipeline;
use enricher::runtime::{PluginEngine, PluginSettings, SandboxLimits};
use enricher_tests::test_plugins::CHAOS;
use enricher_tests::*;
use serde_json::Value;

/// The tests of this file one at a time: the memory test measures the peak
/// resident memory of the whole process, which another test's plugin filling
/// its own cap at the same moment would inflate.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

fn chaos_pipeline(dir: &TempDir, limits: SandboxLimits, params: &[(&str, &str)]) -> Pipeline {
    let db = claims_db(dir, SMALL_CLAIMS_CSV);
    let config = config_for(&db);
    let lookup = enricher::app::open_lookup(&config).expect("lookup");
    chaos_over(lookup, limits, params)
}

/// The chaos plugin over `lookup`, with `limits` and plugin `params`.
fn chaos_over(
    lookup: Arc<ClaimsLookup>,
    limits: SandboxLimits,
    params: &[(&str, &str)],
) -> Pipeline {
    let params: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let engine = PluginEngine::with_settings(PluginSettings {
        limits,
        params: Arc::new(params),
        ..PluginSettings::default()
    })
    .expect("engine");
    let plugin = engine
        .load_file(std::path::Path::new(CHAOS))
        .expect("chaos plugin loads");
    Pipeline::new(
        plugin,
        lookup,
        enricher::config::Config::default()
            .pipeline
            .max_record_bytes,
    )
}

fn tight() -> SandboxLimits {
    SandboxLimits {
        max_memory_bytes: 32 << 20,
        cpu_deadline: Duration::from_millis(100),
    }
}

/// Ten ordinary events with the record at `poison` replaced by a chaos trigger.
fn batch_with(poison: usize, what: &str) -> Vec<Vec<u8>> {
    (0..10)
        .map(|i| {
            if i == poison {
                format!(r#"{{"payment_id":"PAY-{i}","chaos":"{what}"}}"#).into_bytes()
            } else {
                event(&format!("PAY-{i}"), "CLM-001", "10.00").into_bytes()
            }
        })
        .collect()
}

fn run_poisoned(what: &str) -> Vec<enricher::pipeline::Routed> {
    run_poisoned_with(what, tight())
}

fn run_poisoned_with(what: &str, limits: SandboxLimits) -> Vec<enricher::pipeline::Routed> {
    let _serial = one_at_a_time();
    let dir = TempDir::new(&format!("sandbox-{what}"));
    let mut pipeline = chaos_pipeline(&dir, limits, &[]);
    let payloads = batch_with(6, what);
    let slices: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
    let routed = pipeline.process(&records(&slices));
    assert_eq!(routed.len(), 10, "every input answered exactly once");
    for r in &routed {
        if r.input_index == 6 {
            assert_eq!(
                r.status, "PLUGIN_TRAP",
                "{what}: the poisonous record is isolated"
            );
            let v: Value = serde_json::from_slice(&r.value).expect("failure record is JSON");
            assert_eq!(v["payment_id"], "PAY-6");
            assert_eq!(
                v["original_payload"],
                String::from_utf8_lossy(&payloads[6]).as_ref()
            );
        } else {
            assert_eq!(
                r.status, "SUCCESS",
                "{what}: record {} proceeds normally",
                r.input_index
            );
            assert_eq!(r.value, payloads[r.input_index], "passed through unchanged");
        }
    }
    assert!(pipeline.metrics().plugin_traps >= 1);
    // The host goes on with a fresh instance.
    let clean = event("PAY-after", "CLM-001", "1.00");
    let after = pipeline.process(&records(&[clean.as_bytes()]));
    assert_eq!(statuses(&after), ["SUCCESS"]);
    routed
}

/// The error text of the trap record at index 6.
fn trap_error(routed: &[enricher::pipeline::Routed]) -> String {
    let trap = routed
        .iter()
        .find(|r| r.input_index == 6)
        .expect("trap record");
    let v: Value = serde_json::from_slice(&trap.value).expect("JSON");
    v["error"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn a_record_that_loops_forever_hits_the_cpu_deadline_and_is_isolated() {
    let error = trap_error(&run_poisoned("loop"));
    assert!(error.contains("interrupt"), "{error}");
}

/// How long one batch of a looping record runs under `deadline`: the call
/// is stopped at the configured deadline, not earlier and not at the default (1 s).
fn looping_batch_time(deadline: Duration) -> Duration {
    let dir = TempDir::new(&format!("sandbox-deadline-{}", deadline.as_millis()));
    let limits = SandboxLimits {
        cpu_deadline: deadline,
        ..tight()
    };
    let mut pipeline = chaos_pipeline(&dir, limits, &[]);
    // Warm: the instance exists before the clock starts.
    let clean = event("PAY-warm", "CLM-001", "1.00");
    assert_eq!(
        statuses(&pipeline.process(&records(&[clean.as_bytes()]))),
        ["SUCCESS"]
    );
    // One record alone: one call, stopped once (a bigger batch is re-run
    // around the record to isolate it, each run another deadline).
    let looping = r#"{"payment_id":"PAY-loop","chaos":"loop"}"#;
    let started = std::time::Instant::now();
    let routed = pipeline.process(&records(&[looping.as_bytes()]));
    let took = started.elapsed();
    assert_eq!(statuses(&routed), ["PLUGIN_TRAP"]);
    took
}

#[test]
fn the_cpu_deadline_stops_a_call_at_the_configured_time() {
    let _serial = one_at_a_time();
    // Below and above the default (1 s), so that a host ignoring the
    // setting fails one of them.
    for deadline in [Duration::from_millis(150), Duration::from_millis(1_600)] {
        let took = looping_batch_time(deadline);
        assert!(
            took >= deadline,
            "stopped before its deadline {deadline:?}: {took:?}"
        );
        assert!(
            took < deadline + Duration::from_millis(700),
            "deadline {deadline:?}, stopped only after {took:?}"
        );
    }
}

/// A real DuckDB store whose every query first waits `pause`: the time a
/// slow claims database (or network) takes, spent in the host.
struct SlowStore {
    inner: DuckDbStore,
    pause: Duration,
}

impl ClaimsStore for SlowStore {
    fn fetch(&mut self, ids: &[String]) -> Result<Vec<(String, ClaimRow)>, StoreError> {
        std::thread::sleep(self.pause);
        self.inner.fetch(ids)
    }
    fn fetch_all(&mut self) -> Result<Vec<(String, ClaimRow)>, StoreError> {
        self.inner.fetch_all()
    }
}

/// Time in host calls is not charged to the plugin: a record whose 20
/// claims lookups each wait 60 ms in the host (1.2 s in all, 12 times the
/// 100 ms deadline) but take little time in WASM succeeds; the same deadline
/// stops a loop (the control).
#[test]
fn host_call_time_does_not_count_against_the_cpu_deadline() {
    let _serial = one_at_a_time();
    let deadline = Duration::from_millis(100);
    let dir = TempDir::new("sandbox-host-calls");
    let db = claims_db(&dir, SMALL_CLAIMS_CSV);
    let mut config = config_for(&db);
    // Every lookup goes to the store: the partial cache, no memory of missing ids.
    config.lookup.cache = CacheMode::Partial;
    config.lookup.cache_missing_key = false;
    let store = SlowStore {
        inner: DuckDbStore::open(Some(&db), None).expect("store"),
        pause: Duration::from_millis(60),
    };
    let lookup = ClaimsLookup::start(Box::new(store), &config.lookup).expect("lookup");
    let limits = SandboxLimits {
        cpu_deadline: deadline,
        ..tight()
    };
    let mut pipeline = chaos_over(Arc::new(lookup), limits, &[("lookups", "20")]);

    let payload = r#"{"payment_id":"PAY-host","chaos":"lookups"}"#;
    let started = std::time::Instant::now();
    let routed = pipeline.process(&records(&[payload.as_bytes()]));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1_200),
        "20 lookups of 60 ms: {took:?}"
    );
    assert_eq!(statuses(&routed), ["SUCCESS"], "not stopped after {took:?}");
    assert_eq!(pipeline.metrics().plugin_traps, 0);

    let looping = r#"{"payment_id":"PAY-loop","chaos":"loop"}"#;
    let routed = pipeline.process(&records(&[looping.as_bytes()]));
    assert_eq!(
        statuses(&routed),
        ["PLUGIN_TRAP"],
        "the same deadline stops a loop"
    );
}

#[test]
fn a_record_that_grows_memory_hits_the_cap_and_is_isolated() {
    // A CPU deadline far beyond what filling 32 MiB takes: only the memory cap
    // can stop this record, and the trap says so.
    let limits = SandboxLimits {
        cpu_deadline: Duration::from_secs(30),
        ..tight()
    };
    let started = std::time::Instant::now();
    let error = trap_error(&run_poisoned_with("grow", limits));
    assert!(
        error.contains("memory cap reached")
            && error.contains("plugin.max-memory-bytes = 33554432"),
        "the trap names the memory cap: {error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "stopped by the cap, not the deadline: {:?}",
        started.elapsed()
    );
}

#[test]
fn a_panicking_record_is_isolated_and_the_rest_proceed() {
    let error = trap_error(&run_poisoned("panic"));
    assert!(
        error.contains("unreachable") || error.contains("panic"),
        "{error}"
    );
}

#[test]
fn batch_errors_and_dropped_records_are_routed_not_lost() {
    let _serial = one_at_a_time();
    let dir = TempDir::new("sandbox-drop");
    let mut pipeline = chaos_pipeline(&dir, tight(), &[]);
    let dropped = batch_with(2, "drop");
    let slices: Vec<&[u8]> = dropped.iter().map(Vec::as_slice).collect();
    let routed = pipeline.process(&records(&slices));
    assert_eq!(routed.len(), 10);
    assert_eq!(
        routed
            .iter()
            .filter(|r| r.status == "PLUGIN_DROPPED_RECORD")
            .count(),
        1
    );
    let failing = batch_with(0, "batch-error");
    let slices: Vec<&[u8]> = failing.iter().map(Vec::as_slice).collect();
    let routed = pipeline.process(&records(&slices));
    assert_eq!(routed.len(), 10);
    assert!(
        routed.iter().all(|r| r.status == "PLUGIN_ERROR"),
        "{:?}",
        statuses(&routed)
    );
}

/// A field of /proc/self/status, in bytes.
fn proc_status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("proc status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    kb * 1024
}

#[test]
fn host_memory_stays_bounded_while_a_plugin_grows_without_bound() {
    let _serial = one_at_a_time();
    let dir = TempDir::new("sandbox-rss");
    let mut pipeline = chaos_pipeline(&dir, tight(), &[]);
    let payloads = batch_with(0, "grow");
    let slices: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
    pipeline.process(&records(&slices));
    // Reset the process's peak resident memory (VmHWM) to what it holds now
    // (Linux >= 4.0), so the peak below is the peak of these calls alone.
    std::fs::write("/proc/self/clear_refs", "5")
        .expect("reset VmHWM through /proc/self/clear_refs");
    let before = proc_status_bytes("VmRSS");
    for _ in 0..20 {
        let routed = pipeline.process(&records(&slices));
        assert_eq!(
            routed.iter().filter(|r| r.status == "PLUGIN_TRAP").count(),
            1
        );
    }
    let peak = proc_status_bytes("VmHWM").saturating_sub(before);
    let after = proc_status_bytes("VmRSS").saturating_sub(before);
    eprintln!(
        "host RSS while 20 instances filled their 32 MiB cap: peak +{} MiB, after +{} MiB",
        peak >> 20,
        after >> 20
    );
    // One instance at a time, each stopped at its 32 MiB cap and dropped when
    // it traps: the peak holds one cap plus the host's own working memory.
    assert!(peak < 80 << 20, "host peak RSS grew by {} MiB", peak >> 20);
    assert!(
        after < 64 << 20,
        "host RSS stayed {} MiB higher",
        after >> 20
    );
}

#[test]
fn a_plugin_sees_no_files_environment_or_network() {
    let _serial = one_at_a_time();
    // A port that accepts connections: the plugin's attempt fails because of
    // the sandbox, not because nobody listens.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    listener.set_nonblocking(true).expect("non-blocking");
    let port = listener.local_addr().expect("address").port().to_string();
    let dir = TempDir::new("sandbox-escape");
    let mut pipeline = chaos_pipeline(&dir, tight(), &[("escape-port", &port)]);
    let routed = pipeline.process(&records(&[br#"{"chaos":"escape"}"#]));
    assert_eq!(statuses(&routed), ["SUCCESS"]);
    let v: Value = serde_json::from_slice(&routed[0].value).expect("JSON");
    assert!(v["files_listed"].is_null(), "no filesystem: {v}");
    assert_eq!(v["env_vars"], 0, "no environment: {v}");
    assert_eq!(v["args"], 0, "no arguments: {v}");
    assert_eq!(v["net_port"].to_string(), port, "tried our listener: {v}");
    assert_eq!(v["net_connected"], false, "no network: {v}");
    assert!(v["net_error"].is_string(), "the connection failed: {v}");
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("a connection reached the listener from inside the sandbox: {other:?}"),
    }
    // The listener itself works: the host can connect to it.
    let _client = std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().expect("port")))
        .expect("the host connects");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match listener.accept() {
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the listener accepts nothing"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// The world promises a deterministic plugin with no clock beyond its batch
/// context: WASI is linked (std guests import it), but its clocks stand still
/// and its random numbers are the same in every instance.
#[test]
fn a_plugin_gets_stopped_clocks_and_the_same_random_numbers_everywhere() {
    let _serial = one_at_a_time();
    let dir = TempDir::new("sandbox-determinism");
    let seen: Vec<Value> = (0..2)
        .map(|_| {
            // A new pipeline each time: a fresh engine, store and instance.
            let mut pipeline = chaos_pipeline(&dir, tight(), &[]);
            let routed = pipeline.process(&records(&[br#"{"chaos":"escape"}"#]));
            assert_eq!(statuses(&routed), ["SUCCESS"]);
            serde_json::from_slice(&routed[0].value).expect("JSON")
        })
        .collect();
    for v in &seen {
        assert_eq!(v["wall_clock_ms"], 0, "the wall clock reads the epoch: {v}");
        assert_eq!(
            v["monotonic_elapsed_ns"], 0,
            "the monotonic clock never moves: {v}"
        );
    }
    assert!(seen[0]["random_hash"].is_string(), "{}", seen[0]);
    assert_eq!(
        seen[0]["random_hash"], seen[1]["random_hash"],
        "random numbers are the same in every instance"
    );
}

#[test]
fn plugin_parameters_reach_the_plugin_through_the_config_import() {
    let _serial = one_at_a_time();
    let dir = TempDir::new("sandbox-params");
    let mut pipeline = chaos_pipeline(&dir, tight(), &[("chaos", "drop")]);
    let ok = event("PAY-1", "CLM-001", "1.00");
    let routed = pipeline.process(&records(&[ok.as_bytes()]));
    assert_eq!(
        statuses(&routed),
        ["PLUGIN_DROPPED_RECORD"],
        "the parameter applied to every record"
    );
}
