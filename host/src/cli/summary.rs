//! Where a command's end-of-run summary goes. The text goes to stderr, so it
//! is never mixed with data on stdout (`--enriched-out -`, `generate`,
//! `topic tail`); with `--summary-json FILE` every counter is also written to
//! FILE as one JSON object, for scripts (`-` writes it to stdout, when no
//! data goes there).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The `--summary-json` flag, shared by the commands that print a summary.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct SummaryArgs {
    /// Also write the summary's counters to FILE as one JSON object (`-`:
    /// stdout, when no data goes there). The text summary always goes to stderr.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,
}

impl SummaryArgs {
    /// Refuse `--summary-json -` when the command's data goes to stdout;
    /// `data_on` names the flag that sends it there.
    pub fn check_stdout(&self, data_on: Option<&str>) -> anyhow::Result<()> {
        if let (Some(path), Some(flag)) = (&self.summary_json, data_on) {
            anyhow::ensure!(
                path != Path::new("-"),
                "--summary-json - and {flag} both write to stdout: give --summary-json a file"
            );
        }
        Ok(())
    }

    /// Print `text` to stderr and, if asked, write `json` where `--summary-json` says.
    pub fn emit(&self, text: &str, json: &serde_json::Value) -> anyhow::Result<()> {
        eprint!("{text}");
        let Some(path) = &self.summary_json else {
            return Ok(());
        };
        let mut body = serde_json::to_string_pretty(json).context("writing the JSON summary")?;
        body.push('\n');
        if path == Path::new("-") {
            let mut out = std::io::stdout().lock();
            out.write_all(body.as_bytes())
                .and_then(|()| out.flush())
                .context("writing the JSON summary to stdout")
        } else {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(path, body)
                .with_context(|| format!("writing the JSON summary to {}", path.display()))
        }
    }
}

/// `object` with the keys of `extra` added (both JSON objects).
pub fn merged(mut object: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    if let (Some(object), serde_json::Value::Object(extra)) = (object.as_object_mut(), extra) {
        object.extend(extra);
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_goes_to_the_file_and_stdout_conflicts_are_refused() {
        let path = std::env::temp_dir().join(format!("summary-{}.json", std::process::id()));
        let args = SummaryArgs {
            summary_json: Some(path.clone()),
        };
        let json = merged(serde_json::json!({"a": 1}), serde_json::json!({"b": 2}));
        args.emit("", &json).expect("written");
        let back: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("file")).expect("JSON");
        assert_eq!(back, serde_json::json!({"a": 1, "b": 2}));
        let _ = std::fs::remove_file(&path);
        assert!(
            args.check_stdout(Some("--enriched-out -")).is_ok(),
            "a file"
        );
        let dash = SummaryArgs {
            summary_json: Some(PathBuf::from("-")),
        };
        assert!(dash.check_stdout(None).is_ok());
        let err = dash
            .check_stdout(Some("--enriched-out -"))
            .expect_err("both on stdout");
        assert!(err.to_string().contains("--enriched-out -"), "{err}");
    }
}
