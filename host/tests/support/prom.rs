//! A small parser of the Prometheus/OpenMetrics text format (what a scraper
//! reads), and the checks every scrape must pass.

use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Debug, Clone)]
pub struct Scrape(pub Vec<Sample>);

pub fn parse(text: &str) -> Scrape {
    let mut samples = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}').expect("}"))),
            None => (series, BTreeMap::new()),
        };
        let value = match value {
            "+Inf" | "inf" => f64::INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    assert!(
        text.trim_end().ends_with("# EOF"),
        "OpenMetrics text ends with # EOF"
    );
    Scrape(samples)
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = s;
    while let Some((key, after)) = rest.split_once("=\"") {
        let end = after.find('"').expect("closing quote");
        labels.insert(
            key.trim_start_matches(',').to_owned(),
            after[..end].to_owned(),
        );
        rest = &after[end + 1..];
    }
    labels
}

impl Scrape {
    /// The sum of `name` over the samples whose labels include `with`.
    pub fn sum(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                with.iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .sum()
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|s| s.name == name)
    }

    /// `(status, count)` of `enricher_records_out_total` for `output`.
    pub fn out_by_status(&self, output: &str) -> BTreeMap<String, u64> {
        self.0
            .iter()
            .filter(|s| s.name == "enricher_records_out_total")
            .filter(|s| s.labels.get("output").map(String::as_str) == Some(output))
            .map(|s| (s.labels["status"].clone(), s.value as u64))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Like Prometheus's `histogram_quantile` over the whole run.
    pub fn quantile(&self, q: f64, name: &str) -> f64 {
        let mut buckets: Vec<(f64, f64)> = (self.0.iter())
            .filter(|s| s.name == format!("{name}_bucket"))
            .map(|s| {
                let le = &s.labels["le"];
                let bound = if le.eq_ignore_ascii_case("+inf") || le == "inf" {
                    f64::INFINITY
                } else {
                    le.parse().expect("le")
                };
                (bound, s.value)
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total = buckets.last().map_or(0.0, |b| b.1);
        let rank = q * total;
        let (mut prev_bound, mut prev_count) = (0.0, 0.0);
        for (bound, count) in buckets {
            if count >= rank {
                if bound.is_infinite() {
                    return prev_bound;
                }
                let inside = count - prev_count;
                return prev_bound + (bound - prev_bound) * (rank - prev_count) / inside.max(1e-9);
            }
            (prev_bound, prev_count) = (bound, count);
        }
        prev_bound
    }

    /// The metric names the issue fixes are there, every histogram has
    /// observations, and no label value looks like a payment or claim id.
    pub fn check_shape(&self, kafka: bool) {
        let mut required = vec![
            "enricher_records_in_total",
            "enricher_records_out_total",
            "enricher_lookup_cache_hits_total",
            "enricher_lookup_cache_misses_total",
            "enricher_lookup_cache_evictions_total",
            "enricher_lookup_cache_expirations_total",
            "enricher_lookup_cache_rows",
            "enricher_lookup_cache_hit_ratio",
            "enricher_store_queries_total",
            "enricher_store_retries_total",
            "enricher_store_errors_total",
            "enricher_store_timeouts_total",
            "enricher_plugin_traps_total",
            "enricher_plugin_errors_total",
            "enricher_plugin_swaps_total",
            "enricher_plugin_rollbacks_total",
            "enricher_rerun_records_total",
            "enricher_plugin_info",
            "enricher_pipeline_state",
        ];
        let mut histograms = vec![
            "enricher_store_query_duration_seconds",
            "enricher_processing_latency_seconds",
        ];
        if kafka {
            required.extend([
                "enricher_commits_total",
                "enricher_aborts_total",
                "enricher_backpressure_seconds_total",
                "enricher_consumer_lag_records",
            ]);
            histograms.push("enricher_commit_duration_seconds");
        }
        for name in required {
            assert!(self.has(name), "{name} missing from /metrics");
        }
        for name in histograms {
            let count = self.sum(&format!("{name}_count"), &[]);
            assert!(count > 0.0, "{name} has no observations");
            let inf = (self.0.iter())
                .find(|s| s.name == format!("{name}_bucket") && s.labels["le"].contains("nf"))
                .expect("a +Inf bucket");
            assert_eq!(inf.value, count, "{name}: +Inf bucket = count");
        }
        let info = (self.0.iter())
            .find(|s| s.name == "enricher_plugin_info")
            .expect("plugin info");
        assert_eq!(info.labels["name"], "payment-enrichment");
        assert_eq!(info.labels["sha256"].len(), 64, "{info:?}");
        for s in &self.0 {
            for value in s.labels.values() {
                let id_like = ["PAY-", "CLM-", "MBR-"].iter().any(|p| value.contains(p));
                assert!(!id_like, "an id in the labels of {s:?}");
            }
        }
    }
}
