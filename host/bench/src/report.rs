//! What `enricher-bench step` reports: the humans' tables (on stdout, or on
//! stderr with `--json`) and, with `--json`, every figure as one JSON object
//! on stdout, so a script can compare runs. Also the process's memory
//! (`VmRSS`, `VmHWM` from `/proc/self/status`), where Linux gives it.

use serde_json::{Map, Value, json};

use super::measure::Measured;

pub(super) struct Report {
    json: bool,
    figures: Map<String, Value>,
}

impl Report {
    pub(super) fn new(json: bool) -> Self {
        Self {
            json,
            figures: Map::new(),
        }
    }

    /// A line for humans.
    pub(super) fn say(&self, text: &str) {
        if self.json {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    }

    /// One figure of the JSON object.
    pub(super) fn figure(&mut self, key: &str, value: Value) {
        self.figures.insert(key.to_owned(), value);
    }

    /// A measured step: events, wall and CPU seconds, events/s and per CPU-second.
    pub(super) fn measured(&mut self, key: &str, m: &Measured) {
        self.figure(
            key,
            json!({
                "events": m.events,
                "wall_s": m.wall.as_secs_f64(),
                "cpu_s": m.cpu,
                "events_per_s": m.per_sec(),
                "events_per_cpu_s": m.events as f64 / m.cpu.max(1e-9),
            }),
        );
    }

    /// The process's resident memory now and at its peak, under `key`.
    pub(super) fn memory(&mut self, key: &str) {
        if let Some((rss, hwm)) = rss_bytes() {
            self.figure(key, json!({ "rss_bytes": rss, "peak_rss_bytes": hwm }));
        }
    }

    /// Print the JSON object (with `--json`).
    pub(super) fn finish(self) {
        if self.json {
            println!("{}", Value::Object(self.figures));
        }
    }
}

/// (`VmRSS`, `VmHWM`) in bytes, from `/proc/self/status`.
pub(super) fn rss_bytes() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}
