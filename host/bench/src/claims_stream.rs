//! `enricher-bench claims`, last part: enrichment throughput while claim
//! updates stream in over the changelog (1,000/s by default), against the
//! same run without updates, in one run: quiet and updating phases alternate,
//! over the same host (the real plugin, the lookup over its own DuckDB file
//! and the `claims-apply` thread applying the topic), so the ratio holds on
//! a noisy machine. Each update invalidates one claim the warm cache holds
//! (partial) or changes it in place (full), so the next event for it asks
//! DuckDB again while the apply thread writes to it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use enricher::bindings::InputRecord;
use enricher::changelog::Publisher;
use enricher::claims_load::Claim;
use enricher::config::KafkaConfig;
use enricher::lookup::ClaimsLookup;
use enricher::pipeline::Pipeline;
use enricher::runtime::PluginEngine;
use rust_decimal::Decimal;

use super::measure::run_pipeline;

/// What one mode's alternating phases gave.
pub(super) struct StreamResult {
    pub(super) quiet_per_sec: Vec<f64>,
    pub(super) updating_per_sec: Vec<f64>,
    /// Updates published per second during the updating phases.
    pub(super) updates_per_sec: f64,
    /// Changes the host applied during the updating phases.
    pub(super) applied: u64,
}

/// The settings of one measurement.
pub(super) struct StreamPlan<'a> {
    pub(super) kafka: &'a KafkaConfig,
    pub(super) topic: &'a str,
    /// Claims in the table (updates pick ids among them).
    pub(super) claims: u64,
    pub(super) updates_per_sec: u64,
    pub(super) phase: Duration,
    pub(super) rounds: usize,
    pub(super) events: &'a [InputRecord],
}

/// Publishes `rate` updates a second to the changelog until stopped.
fn updater(
    kafka: KafkaConfig,
    topic: String,
    claims: u64,
    rate: u64,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let publisher = Publisher::connect(&kafka, &topic)?;
    let started = Instant::now();
    let mut n = sent.load(Ordering::Relaxed);
    let first = n;
    while !stop.load(Ordering::Relaxed) {
        let due = first + (started.elapsed().as_secs_f64() * rate as f64) as u64;
        if due > n {
            let batch: Vec<Claim> = (n..due)
                .map(|i| {
                    // A spread of ids over the whole table (a multiplicative hash).
                    let id = i.wrapping_mul(2_654_435_761) % claims.max(1);
                    Claim {
                        claim_id: enricher::generate::claim_id(id),
                        member_id: format!("MBR-UPD-{i}"),
                        claim_amount: Decimal::new(10_000 + (i % 1000) as i64, 2),
                        claim_status: Some("APPROVED".into()),
                        created_micros: None,
                    }
                })
                .collect();
            publisher.send(&batch, false)?;
            n = due;
            sent.store(n, Ordering::Relaxed);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Events per second through `pipeline` for `phase`, looping over `events`.
fn enrich_for(pipeline: &mut Pipeline, events: &[InputRecord], phase: Duration) -> f64 {
    let started = Instant::now();
    let mut done = 0u64;
    while started.elapsed() < phase {
        for chunk in events.chunks(5_000) {
            done += run_pipeline(pipeline, chunk, 500);
            if started.elapsed() >= phase {
                break;
            }
        }
    }
    done as f64 / started.elapsed().as_secs_f64()
}

/// Alternate quiet and updating phases over `lookup` (whose applier reads `plan.topic`).
pub(super) fn measure_stream(
    lookup: &Arc<ClaimsLookup>,
    plan: &StreamPlan<'_>,
) -> anyhow::Result<StreamResult> {
    let engine = PluginEngine::new()?;
    let plugin = engine.load_default()?;
    let mut pipeline = Pipeline::new(plugin, Arc::clone(lookup), 1 << 20).without_plugin_headers();
    // Warm the cache with every id the events ask for.
    run_pipeline(&mut pipeline, plan.events, 500);
    let mut result = StreamResult {
        quiet_per_sec: Vec::new(),
        updating_per_sec: Vec::new(),
        updates_per_sec: 0.0,
        applied: 0,
    };
    let sent = Arc::new(AtomicU64::new(0));
    let mut updating_time = Duration::ZERO;
    for _ in 0..plan.rounds {
        result
            .quiet_per_sec
            .push(enrich_for(&mut pipeline, plan.events, plan.phase));
        let applied_before = lookup.changelog().map_or(0, |s| s.applied);
        let sent_before = sent.load(Ordering::Relaxed);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (kafka, topic) = (plan.kafka.clone(), plan.topic.to_owned());
            let (stop, sent) = (Arc::clone(&stop), Arc::clone(&sent));
            let (claims, rate) = (plan.claims, plan.updates_per_sec);
            std::thread::spawn(move || updater(kafka, topic, claims, rate, stop, sent))
        };
        let started = Instant::now();
        result
            .updating_per_sec
            .push(enrich_for(&mut pipeline, plan.events, plan.phase));
        stop.store(true, Ordering::Relaxed);
        updating_time += started.elapsed();
        match thread.join() {
            Ok(outcome) => outcome?,
            Err(_) => anyhow::bail!("the updater thread panicked"),
        }
        result.applied += lookup.changelog().map_or(0, |s| s.applied) - applied_before;
        let published = sent.load(Ordering::Relaxed) - sent_before;
        result.updates_per_sec += published as f64;
    }
    result.updates_per_sec /= updating_time.as_secs_f64().max(1e-9);
    Ok(result)
}

/// The median of `values`.
pub(super) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}
