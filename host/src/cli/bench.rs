//! `enricher bench` (being written).
use enricher::config::Config;
#[derive(clap::Args)]
pub struct BenchArgs {}
pub fn run(_config: &Config, _args: BenchArgs) -> anyhow::Result<()> { anyhow::bail!("not yet") }
