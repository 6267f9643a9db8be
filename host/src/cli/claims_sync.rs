//! `enricher claims sync`: change data capture from a PostgreSQL claims table
//! into the claims changelog (the library's `claims_sync`), until SIGTERM or
//! SIGINT; then it flushes, acknowledges and prints its summary.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;

use enricher::claims_sync::{SyncMetricsServer, SyncOptions, SyncProgress};
use enricher::config::Config;

use super::summary::SummaryArgs;

#[derive(clap::Args)]
pub struct SyncArgs {
    /// The PostgreSQL database: postgres://user[:password]@host[:port]/db
    /// (password also from PGPASSWORD; sslmode=disable or prefer). The user
    /// needs the REPLICATION attribute (or superuser) and, to create the
    /// publication, ownership of the table.
    #[arg(long, value_name = "URL", env = "CLAIMS_SYNC_FROM")]
    pub from: String,
    /// The claims table (`name` or `schema.name`) [default: the URL's `table=`, else claims].
    #[arg(long)]
    pub table: Option<String>,
    /// The logical replication slot: created (pgoutput) with a snapshot when missing, resumed otherwise.
    #[arg(long, default_value = "enricher")]
    pub slot: String,
    /// The publication of the table, created when missing.
    #[arg(long, default_value = "enricher")]
    pub publication: String,
    /// Serve `/metrics` (counters, lag in bytes and seconds) and `/healthz`
    /// on this address, read-only (e.g. 127.0.0.1:9187) [default: not served].
    #[arg(long, value_name = "ADDR", env = "CLAIMS_SYNC_METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub summary: SummaryArgs,
}

/// Run until SIGTERM/SIGINT; exit 0 after a clean stop.
pub fn run(config: &Config, args: &SyncArgs) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing the signal handler")?;
    }
    let topic = config.claims.changelog().context(
        "claims.changelog-topic (CLAIMS_CHANGELOG_TOPIC) is off: there is no changelog to sync to",
    )?;
    // A broker refusing the client's TLS or SASL settings stops it at once.
    if !enricher::kafka::wait_for_broker(&config.kafka, &stop)? {
        eprintln!(
            "stopped before Kafka at {} answered",
            config.kafka.bootstrap_servers
        );
        return Ok(());
    }
    let options = SyncOptions {
        from: args.from.clone(),
        table: args.table.clone(),
        slot: args.slot.clone(),
        publication: args.publication.clone(),
        status_every: config.observe.status_interval,
    };
    let progress = Arc::new(SyncProgress::new());
    let _metrics = match args.metrics_addr {
        Some(addr) => {
            let server = SyncMetricsServer::start(addr, Arc::clone(&progress))?;
            eprintln!(
                "claims sync: metrics on http://{}/metrics",
                server.local_addr()
            );
            Some(server)
        }
        None => None,
    };
    let report = enricher::claims_sync::run(&config.kafka, topic, &options, &stop, progress)
        .context("claims sync")?;
    let s = &report.status;
    let text = format!(
        "claims sync stopped: {} snapshot rows{}, {} changes ({} deletions), {} rejected, \
         acknowledged up to {} to slot {}; changelog {topic}\n",
        s.snapshot_rows,
        if report.resumed {
            " (slot resumed)"
        } else {
            ""
        },
        s.changes,
        s.deleted,
        s.rejected,
        s.durable_lsn_text(),
        args.slot
    );
    let json = serde_json::json!({
        "command": "claims sync",
        "topic": topic,
        "slot": args.slot,
        "resumed": report.resumed,
        "snapshot_rows": s.snapshot_rows,
        "changes": s.changes,
        "deleted": s.deleted,
        "rejected": s.rejected,
        "acknowledged_lsn": s.durable_lsn_text(),
        "lag_bytes": s.lag_bytes,
    });
    args.summary.emit(&text, &json)
}
