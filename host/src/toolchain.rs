//! The commands that turn a Python or JavaScript plugin project into a
//! component (componentize-py, jco componentize): defined once, for
//! `enricher plugin build` and for the tests that build the polyglot plugins,
//! so what the tests prove is what users run.

use std::path::Path;
use std::process::Command;

/// A plugin language built by a componentize tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptLang {
    /// `app.py`, built with componentize-py.
    Python,
    /// `plugin.js`, built with jco (componentize-js).
    Js,
}

/// The command that builds the project in `project` against the WIT files in
/// `wit` (world `enricher`) into the component `out`, with `tool` (the
/// componentize-py or jco binary). Runs in `project`.
pub fn componentize_command(
    lang: ScriptLang,
    tool: &Path,
    project: &Path,
    wit: &Path,
    out: &Path,
) -> Command {
    let mut cmd = Command::new(tool);
    match lang {
        ScriptLang::Python => {
            cmd.arg("-d")
                .arg(wit)
                .args(["-w", "enricher", "componentize", "app", "-p"])
                .arg(project)
                .arg("-o")
                .arg(out);
        }
        ScriptLang::Js => {
            cmd.arg("componentize")
                .arg(project.join("plugin.js"))
                .arg("--wit")
                .arg(wit)
                // `--disable all`: no wasi:http and friends, which the host does not provide.
                .args(["--world-name", "enricher", "--disable", "all", "-o"])
                .arg(out);
        }
    }
    cmd.current_dir(project);
    cmd
}
