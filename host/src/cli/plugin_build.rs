//! `enricher plugin build [DIR]`: build a plugin project with its language's
//! toolchain, then check the component as a deploy would (`deploy::load_candidate`:
//! it compiles, fits a world version this host runs, instantiates, reports a
//! safe name and version). The component's path is the last line of stdout.
//!
//! The language is read from the project: `Cargo.toml` (cargo, wasm32-wasip2,
//! the project's own target dir), `app.py` (componentize-py), `package.json`
//! (jco componentize). The Python and JS tools are looked up in `--toolchains`,
//! else the setting `plugin.toolchains` (`ENRICHER_TOOLCHAINS`), else
//! `~/.cache/enricher-toolchains`, then on PATH.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use enricher::config::Config;
use enricher::deploy::{load_candidate, sha256_hex};
use enricher::runtime::PluginEngine;
use enricher::toolchain::{ScriptLang, componentize_command};

#[derive(clap::Args)]
pub struct BuildArgs {
    /// The project folder (default: the current one).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Where `scripts/plugin-toolchains` installed componentize-py and jco
    /// [default: plugin.toolchains (env ENRICHER_TOOLCHAINS), else ~/.cache/enricher-toolchains]
    #[arg(long, value_name = "DIR")]
    pub toolchains: Option<PathBuf>,
}

/// How a project is built.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Project {
    Rust { lib: String },
    Python { name: String },
    Js { name: String },
}

pub fn run(config: &Config, args: BuildArgs) -> anyhow::Result<()> {
    let dir = &args.dir;
    let project = detect(dir)?;
    let toolchains = args
        .toolchains
        .or_else(|| config.plugin.toolchains.clone())
        .unwrap_or_else(default_toolchains);
    let wasm = build(dir, &project, &toolchains)?;
    let bytes = std::fs::read(&wasm)
        .with_context(|| format!("reading the component {}", wasm.display()))?;
    let engine = PluginEngine::with_settings((&config.plugin).into())?;
    let candidate = load_candidate(&engine, &bytes, sha256_hex(&bytes), None)
        .map_err(|why| anyhow::anyhow!("{} fails the deploy check: {why}", wasm.display()))?;
    for check in candidate.checks() {
        eprintln!("ok  {check}");
    }
    println!("{}", wasm.display());
    Ok(())
}

fn detect(dir: &Path) -> anyhow::Result<Project> {
    let fallback_name = || {
        std::fs::canonicalize(dir)
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "plugin".to_owned())
    };
    if dir.join("Cargo.toml").exists() {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))
            .with_context(|| format!("reading {}/Cargo.toml", dir.display()))?;
        let value: toml::Table = toml::from_str(&manifest)
            .with_context(|| format!("{}/Cargo.toml is not valid TOML", dir.display()))?;
        let package = value
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
            .with_context(|| format!("{}/Cargo.toml names no [package]", dir.display()))?;
        return Ok(Project::Rust {
            lib: package.replace('-', "_"),
        });
    }
    if dir.join("app.py").exists() {
        return Ok(Project::Python {
            name: fallback_name(),
        });
    }
    if dir.join("package.json").exists() {
        let name = std::fs::read(dir.join("package.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v.get("name")?.as_str().map(str::to_owned))
            .filter(|n| super::plugin_new::check_name(n).is_ok())
            .unwrap_or_else(fallback_name);
        return Ok(Project::Js { name });
    }
    anyhow::bail!(
        "{} is no plugin project: expected Cargo.toml (Rust), app.py (Python) or package.json (JS)",
        dir.display()
    )
}

fn default_toolchains() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".cache/enricher-toolchains")
}

/// Run the toolchain; returns the component's path.
fn build(dir: &Path, project: &Project, toolchains: &Path) -> anyhow::Result<PathBuf> {
    // The tools run inside the project: every path they get is absolute.
    let dir = &absolute(dir)?;
    let target = dir.join("target");
    let (mut command, wasm) = match project {
        Project::Rust { lib } => {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
            let mut c = Command::new(cargo);
            c.current_dir(dir)
                .args(["build", "--release", "--target", "wasm32-wasip2"])
                .arg("--target-dir")
                .arg(absolute(&target)?)
                // An outer build's flags and target are not the plugin's.
                .env_remove("CARGO_TARGET_DIR")
                .env_remove("CARGO_BUILD_TARGET")
                .env_remove("RUSTFLAGS")
                .env_remove("CARGO_ENCODED_RUSTFLAGS");
            (c, target.join(format!("wasm32-wasip2/release/{lib}.wasm")))
        }
        Project::Python { name } => {
            let tool = find_tool(toolchains, "python/bin/componentize-py", "componentize-py")?;
            let wasm = target.join(format!("{name}.wasm"));
            let c = componentize_command(ScriptLang::Python, &tool, dir, &dir.join("wit"), &wasm);
            (c, wasm)
        }
        Project::Js { name } => {
            let tool = find_tool(toolchains, "js/node_modules/.bin/jco", "jco")?;
            let wasm = target.join(format!("{name}.wasm"));
            let c = componentize_command(ScriptLang::Js, &tool, dir, &dir.join("wit"), &wasm);
            (c, wasm)
        }
    };
    std::fs::create_dir_all(&target).with_context(|| format!("creating {}", target.display()))?;
    // The toolchain's own output goes to stderr: stdout holds the path alone.
    let status = command
        .stdout(std::io::stderr())
        .status()
        .with_context(|| format!("running {command:?}"))?;
    anyhow::ensure!(status.success(), "the build failed ({status}): {command:?}");
    anyhow::ensure!(
        wasm.exists(),
        "the build succeeded but wrote no component at {}",
        wasm.display()
    );
    Ok(wasm)
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    Ok(if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir()?.join(path)
    })
}

/// `toolchains/<relative>`, else `name` on PATH, else an error naming the installer.
fn find_tool(toolchains: &Path, relative: &str, name: &str) -> anyhow::Result<PathBuf> {
    let installed = toolchains.join(relative);
    if installed.is_file() {
        return Ok(installed);
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .find(|p| p.is_file());
    on_path.with_context(|| {
        format!(
            "{name} not found in {} nor on PATH: install it with scripts/plugin-toolchains \
             (or set plugin.toolchains, ENRICHER_TOOLCHAINS or --toolchains to where it is)",
            toolchains.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_toolchain_names_the_installer() {
        let err = find_tool(
            Path::new("/nonexistent"),
            "python/bin/x",
            "no-such-tool-here",
        )
        .expect_err("not installed");
        assert!(
            err.to_string().contains("scripts/plugin-toolchains"),
            "{err}"
        );
    }

    #[test]
    fn the_language_comes_from_the_project_files() {
        let dir = std::env::temp_dir().join(format!("enricher-detect-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        assert!(detect(&dir).is_err());
        std::fs::write(dir.join("package.json"), r#"{"name":"my-js"}"#).expect("write");
        assert_eq!(
            detect(&dir).ok(),
            Some(Project::Js {
                name: "my-js".into()
            })
        );
        std::fs::write(dir.join("app.py"), "").expect("write");
        assert!(matches!(detect(&dir), Ok(Project::Python { .. })));
        std::fs::write(dir.join("Cargo.toml"), "[package]\nname = \"a-b\"\n").expect("write");
        assert_eq!(detect(&dir).ok(), Some(Project::Rust { lib: "a_b".into() }));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
