//! `enricher plugin ...`: deploy, list, roll back and inspect the plugin
//! versions of a running host through its admin API, printed for humans or
//! as JSON (`--json`); `keygen` and `sign` (in `plugin_sign`) work offline,
//! and so does the plugin kit: `new` (`plugin_new`), `build` (`plugin_build`)
//! and `test` (`plugin_test`).
//! Text from the host is printed escaped (`printable`): a name with a newline
//! or a terminal escape code never reaches the terminal raw.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;

use enricher::admin::AdminClient;
use enricher::config::{Config, DEFAULT_ADMIN_BIND};
use enricher::deploy::signature::signature_path;
use enricher::deploy::{DeployReport, PluginStatus, RollbackReport, VersionInfo, printable};
use enricher_model::format_utc_millis;

#[derive(clap::Args)]
pub struct PluginArgs {
    /// The running host's admin API, `host:port` (default: the config's
    /// `deploy.admin-bind`, else 127.0.0.1:9464).
    #[arg(long, global = true, env = "ENRICHER_ADMIN_ADDR", value_name = "ADDR")]
    pub admin: Option<String>,
    /// Print the host's JSON answer instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: PluginCommand,
}

#[derive(clap::Subcommand)]
pub enum PluginCommand {
    /// Write a ready plugin project: source, build file, sample records, claims
    /// and expected outputs, a test.
    New(super::plugin_new::NewArgs),
    /// Build a plugin project with its language's toolchain and check the
    /// component as a deploy would; prints its path last.
    Build(super::plugin_build::BuildArgs),
    /// Run a component in the host's sandbox over sample records; with
    /// --expect, fail on any difference from the expected outputs.
    Test(super::plugin_test::TestArgs),
    /// Check a component and make it the active version (on every host
    /// through the fleet topic, or on this one).
    Deploy {
        /// The component (`.wasm`).
        file: PathBuf,
        /// The name to deploy it under (default: the name the plugin reports).
        #[arg(long)]
        name: Option<String>,
        /// Its detached signature (default: `FILE.sig` when it exists).
        #[arg(long, value_name = "SIG")]
        signature: Option<PathBuf>,
    },
    /// Write a new ed25519 key pair: PREFIX.key (private, mode 0600) and
    /// PREFIX.pub (public, for `deploy.trusted-keys`).
    Keygen {
        /// Write the key pair to PREFIX.key and PREFIX.pub.
        #[arg(long, value_name = "PREFIX")]
        out: PathBuf,
        /// Replace existing key files.
        #[arg(long)]
        force: bool,
    },
    /// Sign a component with a private key: writes its detached signature
    /// (default `FILE.sig`), which `plugin deploy` sends with it.
    Sign {
        /// The component (`.wasm`).
        file: PathBuf,
        /// The private key (PKCS#8 PEM, as `plugin keygen` or
        /// `openssl genpkey -algorithm ed25519` writes it).
        #[arg(long, value_name = "KEYFILE")]
        key: PathBuf,
        /// Where to write the signature (default: FILE.sig).
        #[arg(long, value_name = "SIG")]
        out: Option<PathBuf>,
    },
    /// Every version the host knows, newest first (`*` marks the active one).
    List,
    /// Return to the version that was active before the current one.
    Rollback,
    /// The active version, since when, and how it is doing.
    Status,
}

pub fn run(config: &Config, args: PluginArgs) -> anyhow::Result<()> {
    let admin = args.admin;
    // The same token and certificate the host reads (env, file, config);
    // offline commands never build it.
    let client = || -> anyhow::Result<AdminClient> {
        let addr = admin.unwrap_or_else(|| default_addr(config));
        let mut client = AdminClient::new(&addr).with_token(config.admin.token()?);
        if let Some((cert, _)) = config.admin.tls() {
            client = client.trusting(&cert)?;
        }
        Ok(client)
    };
    match args.command {
        PluginCommand::New(new) => return super::plugin_new::run(new),
        PluginCommand::Build(build) => return super::plugin_build::run(config, build),
        PluginCommand::Test(test) => return super::plugin_test::run(config.clone(), test),
        PluginCommand::Keygen { out, force } => {
            return super::plugin_sign::keygen(&out, force);
        }
        PluginCommand::Sign { file, key, out } => {
            return super::plugin_sign::sign_file(&file, &key, out);
        }
        PluginCommand::Deploy {
            file,
            name,
            signature,
        } => {
            let wasm = std::fs::read(&file)
                .with_context(|| format!("reading the plugin {}", file.display()))?;
            let signature = match signature {
                Some(path) => Some(
                    std::fs::read(&path)
                        .with_context(|| format!("reading the signature {}", path.display()))?,
                ),
                // A missing `.sig` is no error: a host that needs one says so.
                None => std::fs::read(signature_path(&file)).ok(),
            };
            let client = client()?;
            let report = client.deploy_signed(&wasm, name.as_deref(), signature.as_deref())?;
            if args.json {
                return print_json(&report);
            }
            // Best effort: only the host knows which topic it deploys through.
            let topic = report
                .fleet
                .then(|| client.status().ok().and_then(|s| s.fleet_topic))
                .flatten();
            println!("{}", deploy_line(&report, topic.as_deref()));
        }
        PluginCommand::List => {
            let client = client()?;
            let versions = client.list()?;
            if args.json {
                return print_json(&versions);
            }
            print!("{}", list_table(&versions));
            // Best effort: refused versions are part of the host's status.
            if let Ok(status) = client.status() {
                print!("{}", rejected_text(&status));
            }
        }
        PluginCommand::Rollback => {
            let report = client()?.rollback()?;
            if args.json {
                return print_json(&report);
            }
            println!("{}", rollback_line(&report));
        }
        PluginCommand::Status => {
            let status = client()?.status()?;
            if args.json {
                return print_json(&status);
            }
            print!("{}", status_text(&status));
        }
    }
    Ok(())
}

/// Where this host's config says the admin API is; a wildcard bind is
/// reached on loopback.
fn default_addr(config: &Config) -> String {
    match config.deploy.admin_bind {
        Some(bind) => {
            let ip = match bind.ip() {
                IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                ip => ip,
            };
            SocketAddr::new(ip, bind.port()).to_string()
        }
        None => DEFAULT_ADMIN_BIND.to_owned(),
    }
}

fn print_json(answer: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(answer)?);
    Ok(())
}

fn short_sha(sha256: &str) -> String {
    let short: String = printable(sha256).chars().take(8).collect();
    if short.len() < sha256.len() {
        format!("{short}…")
    } else {
        short
    }
}

fn deploy_line(report: &DeployReport, topic: Option<&str>) -> String {
    let v = &report.deployed;
    let target = match (report.fleet, topic) {
        (true, Some(topic)) => format!("the fleet via {}", printable(topic)),
        (true, None) => "the fleet".to_owned(),
        (false, _) => "this host only".to_owned(),
    };
    format!(
        "deployed {} (sha256 {}, world {}) to {target}; checks: {}; took {} ms",
        printable(&v.key),
        short_sha(&v.sha256),
        printable(&v.world),
        printable(&report.checks.join(", ")),
        report.check_ms
    )
}

fn rollback_line(report: &RollbackReport) -> String {
    let target = if report.fleet {
        "the fleet"
    } else {
        "this host"
    };
    let (from, to) = (printable(&report.from), printable(&report.to));
    format!("rolled back {from} -> {to} on {target}")
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / f64::from(1 << 10)),
        b => format!("{b} B"),
    }
}

fn list_table(versions: &[VersionInfo]) -> String {
    if versions.is_empty() {
        return "no plugin versions\n".to_owned();
    }
    let escaped: Vec<VersionInfo> = versions
        .iter()
        .map(|v| VersionInfo {
            key: printable(&v.key),
            world: printable(&v.world),
            ..v.clone()
        })
        .collect();
    let versions = &escaped[..];
    let key_w = versions
        .iter()
        .map(|v| v.key.len())
        .max()
        .unwrap_or(0)
        .max(3);
    let world_w = versions
        .iter()
        .map(|v| v.world.len())
        .max()
        .unwrap_or(0)
        .max(5);
    let mut out = format!(
        "  {:key_w$}  {:world_w$}  {:>10}  LOADED\n",
        "KEY", "WORLD", "SIZE"
    );
    for v in versions {
        out += &format!(
            "{} {:key_w$}  {:world_w$}  {:>10}  {}\n",
            if v.active { '*' } else { ' ' },
            v.key,
            v.world,
            human_size(v.size_bytes),
            format_utc_millis(v.loaded_at_ms)
        );
    }
    out
}

/// The versions the host refused (from the fleet topic, the watched folder,
/// or for their signature), and which keys it requires; empty when neither.
fn rejected_text(s: &PluginStatus) -> String {
    let mut out = String::new();
    if !s.trusted_keys.is_empty() {
        out += &format!("signatures  required: {}\n", s.trusted_keys.join(", "));
    }
    for r in &s.rejected {
        out += &format!(
            "rejected    {} from the {} at {}: {}\n",
            r.what.escape_debug(),
            r.from,
            format_utc_millis(r.at_ms),
            r.reason.escape_debug()
        );
    }
    out
}

fn status_text(s: &PluginStatus) -> String {
    let a = &s.active;
    let pause = s.last_swap_pause_us.map_or("none yet".to_owned(), |us| {
        format!("{:.3} ms", us as f64 / 1000.0)
    });
    let fleet = s
        .fleet_topic
        .as_deref()
        .map_or("local (no fleet topic)".to_owned(), |t| {
            format!("via {}", printable(t))
        });
    format!(
        "active      {} (world {}, sha256 {}, {})\n\
         since       {}\n\
         events      {} processed, {} plugin errors ({:.2} %)\n\
         swaps       {}, rollbacks {}, last swap pause {pause}\n\
         previous    {}\n\
         deploys     {fleet}\n\
         last event  {}\n",
        printable(&a.key),
        printable(&a.world),
        short_sha(&a.sha256),
        human_size(a.size_bytes),
        format_utc_millis(s.activated_at_ms),
        s.events_processed,
        s.plugin_errors,
        s.error_rate * 100.0,
        s.swaps,
        s.rollbacks,
        printable(s.previous.as_deref().unwrap_or("none")),
        printable(s.last_event.as_deref().unwrap_or("none")),
    ) + &rejected_text(s)
}
