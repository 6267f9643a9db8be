//! The checks a new plugin version passes before it may process a live event:
//! it compiles, fits a world version this host runs (semver), instantiates and
//! reports a safe name and version (`names`), then handles the canary records: no trap, no
//! batch error, every input answered, every output addressed to an input and
//! every `enriched` value a JSON object. All of it runs inside the sandbox.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::names;
use crate::bindings::{BatchContext, InputRecord, Output};
use crate::lookup::ClaimsLookup;
use crate::runtime::{Plugin, PluginEngine, WIT_PACKAGE};

/// A version that passed every check.
pub struct Checked {
    pub plugin: Plugin,
    pub sha256: String,
    /// What was checked, in order, for the operator.
    pub checks: Vec<String>,
    pub took: Duration,
}

/// The records a candidate must handle unless the operator gives a file:
/// a well-formed event (its claim is unlikely to exist), bad JSON, a missing field.
pub fn default_canaries() -> Vec<InputRecord> {
    [
        &br#"{"payment_id":"CANARY-1","claim_id":"CANARY-CLAIM","payment_amount":12.34,"payment_date":"2024-01-15T10:30:00Z","processor_id":"PROC-1","payment_method":"ACH","payment_status":"COMPLETED"}"#[..],
        b"{not json",
        br#"{"payment_id":"CANARY-3"}"#,
    ]
    .into_iter()
    .map(record)
    .collect()
}

/// Canary records from a JSON-lines file (one record per non-empty line).
pub fn canaries_from_file(path: &Path) -> Result<Vec<InputRecord>, String> {
    let text = std::fs::read(path).map_err(|e| format!("canary file {}: {e}", path.display()))?;
    let records: Vec<InputRecord> = text
        .split(|b| *b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .map(record)
        .collect();
    if records.is_empty() {
        return Err(format!("canary file {} has no records", path.display()));
    }
    Ok(records)
}

fn record(value: &[u8]) -> InputRecord {
    InputRecord {
        key: Some(b"canary".to_vec()),
        value: value.to_vec(),
        headers: Vec::new(),
        timestamp_ms: None,
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A component that compiled, fits the world and instantiated; canaries next.
pub struct Candidate {
    pub plugin: Plugin,
    pub sha256: String,
    checks: Vec<String>,
    started: Instant,
}

/// Compile `bytes` (whose [`sha256_hex`] is `sha256`), check its world
/// version, instantiate it and ask its name.
pub fn load_candidate(
    engine: &PluginEngine,
    bytes: &[u8],
    sha256: String,
    name: Option<&str>,
) -> Result<Candidate, String> {
    let started = Instant::now();
    let source = format!("deployment sha256:{}", &sha256[..12]);
    let plugin = engine
        .load_bytes(&source, bytes)
        .map_err(|e| e.to_string())?;
    let plugin = match name {
        Some(name) if !name.trim().is_empty() => plugin.renamed(name.trim()),
        _ => plugin,
    };
    // What it is called reaches the fleet topic, `plugin list` and the logs.
    let info = plugin.info();
    names::check_name(&info.name)?;
    names::check_version(&info.version)?;
    let checks = vec![
        format!(
            "compiled and linked in {} ms",
            started.elapsed().as_millis()
        ),
        format!(
            "built for {}@{}, which this host runs",
            WIT_PACKAGE,
            plugin.world()
        ),
        format!("instantiated; reports {}", plugin.key()),
    ];
    Ok(Candidate {
        plugin,
        sha256,
        checks,
        started,
    })
}

impl Candidate {
    /// What was checked so far, in order, for the operator.
    pub fn checks(&self) -> &[String] {
        &self.checks
    }

    /// The last check: the canary records, against the real lookup.
    pub fn run_canaries(
        mut self,
        lookup: &Arc<ClaimsLookup>,
        canaries: &[InputRecord],
    ) -> Result<Checked, String> {
        run_canaries(&self.plugin, lookup, canaries)?;
        self.checks.push(format!(
            "{} canary record(s): no trap, every input answered, outputs well-formed",
            canaries.len()
        ));
        Ok(Checked {
            plugin: self.plugin,
            sha256: self.sha256,
            checks: self.checks,
            took: self.started.elapsed(),
        })
    }
}

fn run_canaries(
    plugin: &Plugin,
    lookup: &Arc<ClaimsLookup>,
    canaries: &[InputRecord],
) -> Result<(), String> {
    let fail = |why: String| format!("canary records: {why}");
    let mut instance = plugin
        .instantiate(Some(Arc::clone(lookup)))
        .map_err(|e| fail(e.to_string()))?;
    let context = BatchContext {
        processing_time_ms: 0,
    };
    let outputs = instance
        .process_batch(context, canaries)
        .map_err(|e| fail(e.to_string()))?;
    let mut answered = vec![false; canaries.len()];
    for out in &outputs {
        let Some(slot) = answered.get_mut(out.input_index as usize) else {
            return Err(fail(format!(
                "an output is addressed to input {} of {}",
                out.input_index,
                canaries.len()
            )));
        };
        *slot = true;
        if out.output == Output::Enriched
            && !matches!(
                serde_json::from_slice::<serde_json::Value>(&out.value),
                Ok(serde_json::Value::Object(_))
            )
        {
            return Err(fail(format!(
                "the enriched output for input {} is not a JSON object",
                out.input_index
            )));
        }
    }
    if let Some(missed) = answered.iter().position(|a| !a) {
        return Err(fail(format!("input {missed} got no output")));
    }
    Ok(())
}
