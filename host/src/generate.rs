//! TEMPORARY placeholder until the generator lands.
use std::time::Duration;
pub struct GenerateOptions { pub count: Option<u64>, pub run_duration: Option<Duration>, pub events_per_second: Option<f64>, pub valid_claim_rate: f64, pub invalid_rate: f64, pub claims: u64, pub seed: u64 }
impl Default for GenerateOptions { fn default() -> Self { Self { count: None, run_duration: None, events_per_second: None, valid_claim_rate: 0.9, invalid_rate: 0.0, claims: 10_000, seed: 0 } } }
#[derive(Debug, Default, Clone, Copy)]
pub struct GenerateSummary { pub events: u64, pub valid_claim: u64, pub unknown_claim: u64, pub invalid: u64 }
pub fn write_events(_out: &mut impl std::io::Write, _opts: &GenerateOptions) -> std::io::Result<GenerateSummary> { Err(std::io::Error::other("placeholder")) }
pub fn write_claims_csv(_out: &mut impl std::io::Write, _claims: u64, _seed: u64) -> std::io::Result<u64> { Err(std::io::Error::other("placeholder")) }
pub fn claim_id(n: u64) -> String { format!("CLM-{n:07}") }
