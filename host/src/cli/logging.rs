//! Where the binary's logs go and in what shape, from the environment (read
//! before any config file, so a bad config can still be logged):
//!
//! - `RUST_LOG`: full `tracing` directives; else `LOG_LEVEL` (or the original
//!   design's `FLINK_LOG_LEVEL`): `error`, `warn`, `info`, `debug` or `trace`
//!   in any case, for our own targets (dependencies stay at `warn`);
//! - `LOG_FORMAT`: `text` (default; coloured on a terminal) or `json` (one
//!   object per line, for log collectors);
//! - `LOG_FILE`: also write to this file (e.g. `logs/enricher.log`), rolled
//!   daily (`enricher.log.2026-12-02`), always without colour.

use std::path::Path;

use anyhow::{Context, bail};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Keeps the log file's writer thread running; drop it last (it flushes).
pub struct LogGuard {
    _file: Option<tracing_appender::non_blocking::WorkerGuard>,
}

/// The default filter: our own targets at `level`, everything else at warn.
fn filter_for(level: &str) -> String {
    format!("warn,enricher={level},plugin={level},audit=info")
}

/// The filter the environment asks for.
fn filter(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<EnvFilter> {
    if let Some(directives) = var("RUST_LOG").filter(|d| !d.trim().is_empty()) {
        return EnvFilter::try_new(&directives)
            .with_context(|| format!("RUST_LOG={directives:?} is not a valid tracing filter"));
    }
    let named = ["LOG_LEVEL", "FLINK_LOG_LEVEL"]
        .into_iter()
        .find_map(|name| var(name).map(|value| (name, value)));
    let level = match named {
        None => "info".to_owned(),
        Some((name, value)) => match value.trim().to_ascii_lowercase().as_str() {
            l @ ("error" | "warn" | "info" | "debug" | "trace") => l.to_owned(),
            "warning" => "warn".to_owned(),
            _ => bail!("{name}={value:?}: expected error, warn, info, debug or trace"),
        },
    };
    Ok(EnvFilter::new(filter_for(&level)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

fn format(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Format> {
    match var("LOG_FORMAT").as_deref().map(str::trim) {
        None | Some("") => Ok(Format::Text),
        Some(f) if f.eq_ignore_ascii_case("text") => Ok(Format::Text),
        Some(f) if f.eq_ignore_ascii_case("json") => Ok(Format::Json),
        Some(other) => bail!("LOG_FORMAT={other:?}: expected text or json"),
    }
}

/// Install the global subscriber (once, at start).
pub fn init() -> anyhow::Result<LogGuard> {
    let var = |name: &str| std::env::var(name).ok();
    let (filter, format) = (filter(var)?, format(var)?);
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let stderr = match format {
        Format::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .boxed(),
        Format::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let (file, guard) = match var("LOG_FILE").filter(|f| !f.trim().is_empty()) {
        None => (None, None),
        Some(path) => {
            let (writer, guard) = tracing_appender::non_blocking(rolling_file(Path::new(&path))?);
            let layer = match format {
                Format::Text => tracing_subscriber::fmt::layer()
                    .with_writer(writer)
                    .with_ansi(false)
                    .boxed(),
                Format::Json => tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(writer)
                    .boxed(),
            };
            (Some(layer), Some(guard))
        }
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(stderr)
        .with(file)
        .try_init()
        .context("installing the logger")?;
    Ok(LogGuard { _file: guard })
}

/// A daily-rolled file at `path` (its folder is created).
fn rolling_file(path: &Path) -> anyhow::Result<tracing_appender::rolling::RollingFileAppender> {
    let name = path
        .file_name()
        .with_context(|| format!("LOG_FILE={}: names no file", path.display()))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)
        .with_context(|| format!("LOG_FILE={}: creating {}", path.display(), dir.display()))?;
    tracing_appender::rolling::RollingFileAppender::builder()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix(name.to_string_lossy())
        .build(dir)
        .with_context(|| format!("LOG_FILE={}: cannot write there", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_level_comes_from_rust_log_then_log_level_then_the_flink_name() {
        let shown = |pairs: &[(&str, &str)]| filter(env(pairs)).expect("filter").to_string();
        assert_eq!(shown(&[]), EnvFilter::new(filter_for("info")).to_string());
        assert_eq!(
            shown(&[("FLINK_LOG_LEVEL", "DEBUG")]),
            EnvFilter::new(filter_for("debug")).to_string()
        );
        assert_eq!(
            shown(&[("LOG_LEVEL", "warning"), ("FLINK_LOG_LEVEL", "DEBUG")]),
            EnvFilter::new(filter_for("warn")).to_string()
        );
        assert_eq!(
            shown(&[("RUST_LOG", "enricher=trace"), ("LOG_LEVEL", "error")]),
            "enricher=trace"
        );
        let err = filter(env(&[("LOG_LEVEL", "loud")])).expect_err("bad level");
        assert!(
            err.to_string()
                .contains("LOG_LEVEL=\"loud\": expected error, warn"),
            "{err}"
        );
    }

    #[test]
    fn the_format_is_text_or_json() {
        assert_eq!(format(env(&[])).expect("default"), Format::Text);
        assert_eq!(
            format(env(&[("LOG_FORMAT", "JSON")])).expect("json"),
            Format::Json
        );
        let err = format(env(&[("LOG_FORMAT", "xml")])).expect_err("bad");
        assert!(err.to_string().contains("expected text or json"), "{err}");
    }
}
