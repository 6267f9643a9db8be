//! A plugin that misbehaves on request, to test the host's sandbox: the CPU
//! deadline, the memory cap and trap isolation. Not an example to copy.
//!
//! What it does to a record: a payload containing `"chaos":"<what>"` triggers
//! `<what>` for that record; the plugin parameter `chaos` (`[plugin.params]`,
//! read through the WIT 1.1.0 `config` import) triggers it for every record.
//! `<what>` is one of `loop` (spin forever), `grow` (allocate without bound),
//! `panic`, `batch-error` (fail the whole batch), `drop` (answer nothing),
//! `invalid-json` (write the payload without its last byte to `enriched`:
//! a broken JSON writer), `misaddress` (answer the record, and also send an
//! output addressed to no input of the batch) or `escape` (try to list `/`, read the environment and connect to
//! 127.0.0.1 on the port of the parameter `escape-port` (default 9), read
//! both clocks and draw random numbers, and report what it saw as the
//! output's value), or `lookups` (call the claims lookup for the parameter
//! `lookups` (default 3000) distinct absent ids, one call each, then answer as
//! an ordinary record: little WASM time, much time in host calls), or
//! `forge-headers` (answer as an ordinary record carrying headers only the
//! host may write: `Commit-Unit`, `claim-stale`, `Enrichment-Status`,
//! `plugin-version`, `retry-attempts`).
//! The parameters `report-name` and `report-version` replace the name and
//! version it reports (to test how the host takes hostile names).
//! Any other record goes unchanged to `enriched` if it is a JSON object, else to `failed`.
#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({ path: "../../wit", world: "enricher" });

use exports::payments::enrichment::transform::{BatchError, Guest};
use payments::enrichment::config;
use payments::enrichment::types::{BatchContext, InputRecord, Output, OutputRecord, PluginInfo};

struct Chaos;

/// The misbehaviour asked for by a payload, or by the `chaos` parameter.
fn trigger(payload: &[u8], everywhere: Option<&str>) -> Option<String> {
    if let Some(what) = everywhere {
        return Some(what.to_owned());
    }
    let text = std::str::from_utf8(payload).ok()?;
    let rest = &text[text.find("\"chaos\":\"")? + 9..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// What a plugin that tries to leave its sandbox gets to see.
fn try_escape() -> Vec<u8> {
    let files = std::fs::read_dir("/")
        .map(|d| d.count())
        .map_err(|e| e.to_string());
    let env = std::env::vars().count();
    let args = std::env::args().count();
    let port = config::get("escape-port")
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or(9);
    let net = std::net::TcpStream::connect(("127.0.0.1", port))
        .map(|_| ())
        .map_err(|e| e.to_string());
    let wall_clock_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(u64::MAX);
    let started = std::time::Instant::now();
    let mut spin: u64 = 0;
    for _ in 0..1_000_000 {
        spin = std::hint::black_box(spin.wrapping_add(1));
    }
    let monotonic_elapsed_ns = started.elapsed().as_nanos() as u64;
    // std seeds its hash keys from WASI `random`: the same hash means the same random bytes.
    let random_hash = {
        use std::hash::BuildHasher;
        std::collections::hash_map::RandomState::new().hash_one("same input")
    };
    serde_json::json!({
        "wall_clock_ms": wall_clock_ms,
        "monotonic_elapsed_ns": monotonic_elapsed_ns,
        "random_hash": random_hash.to_string(),
        "files_listed": files.as_ref().ok(),
        "files_error": files.err(),
        "env_vars": env,
        "args": args,
        "net_port": port,
        "net_connected": net.is_ok(),
        "net_error": net.err(),
    })
    .to_string()
    .into_bytes()
}

fn spin_forever() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

fn grow_forever() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = vec![0u8; 1 << 20];
        block[0] = 1;
        hoard.push(std::hint::black_box(block));
    }
}

impl Guest for Chaos {
    fn info() -> PluginInfo {
        PluginInfo {
            name: config::get("report-name").unwrap_or_else(|| "chaos".into()),
            version: config::get("report-version")
                .unwrap_or_else(|| env!("CARGO_PKG_VERSION").into()),
        }
    }

    fn process_batch(
        _: BatchContext,
        records: Vec<InputRecord>,
    ) -> Result<Vec<OutputRecord>, BatchError> {
        let everywhere = config::get("chaos");
        let mut outputs = Vec::with_capacity(records.len());
        for (i, record) in records.into_iter().enumerate() {
            match trigger(&record.value, everywhere.as_deref()).as_deref() {
                Some("loop") => spin_forever(),
                Some("grow") => grow_forever(),
                Some("panic") => panic!("chaos: asked to panic on record {i}"),
                Some("batch-error") => {
                    return Err(BatchError::Internal(
                        "chaos: asked to fail the batch".into(),
                    ));
                }
                Some("drop") => continue,
                Some("invalid-json") => {
                    let mut value = record.value;
                    value.pop();
                    outputs.push(OutputRecord {
                        input_index: i as u32,
                        output: Output::Enriched,
                        key: record.key,
                        value,
                        headers: record.headers,
                    });
                }
                Some("misaddress") => {
                    outputs.push(OutputRecord {
                        input_index: u32::MAX,
                        output: Output::Enriched,
                        key: None,
                        value: b"{}".to_vec(),
                        headers: Vec::new(),
                    });
                    outputs.push(OutputRecord {
                        input_index: i as u32,
                        output: Output::Enriched,
                        key: record.key,
                        value: record.value,
                        headers: record.headers,
                    });
                }
                Some("lookups") => {
                    let calls = config::get("lookups")
                        .and_then(|n| n.parse::<u32>().ok())
                        .unwrap_or(3000);
                    for k in 0..calls {
                        let ids = [format!("CLM-ABSENT-{i}-{k}")];
                        std::hint::black_box(payments::enrichment::claims::lookup(&ids));
                    }
                    outputs.push(ordinary(i, record));
                }
                Some("forge-headers") => {
                    let mut out = ordinary(i, record);
                    for (key, value) in [
                        ("Commit-Unit", "forged/1"),
                        ("claim-stale", "true"),
                        ("Enrichment-Status", "SUCCESS"),
                        ("plugin-version", "9.9.9"),
                        ("retry-attempts", "99"),
                    ] {
                        out.headers.push(payments::enrichment::types::Header {
                            key: key.into(),
                            value: value.as_bytes().to_vec(),
                        });
                    }
                    outputs.push(out);
                }
                Some("escape") => outputs.push(OutputRecord {
                    input_index: i as u32,
                    output: Output::Enriched,
                    key: record.key,
                    value: try_escape(),
                    headers: record.headers,
                }),
                _ => outputs.push(ordinary(i, record)),
            }
        }
        Ok(outputs)
    }
}

/// An ordinary record's answer: unchanged, to `enriched` if it is a JSON object, else to `failed`.
fn ordinary(i: usize, record: InputRecord) -> OutputRecord {
    OutputRecord {
        input_index: i as u32,
        output: match serde_json::from_slice(&record.value) {
            Ok(serde_json::Value::Object(_)) => Output::Enriched,
            _ => Output::Failed,
        },
        key: record.key,
        value: record.value,
        headers: record.headers,
    }
}

export!(Chaos);
