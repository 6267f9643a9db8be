//! The Dockerfile's runtime stage as a root filesystem (`scripts/image-rootfs`)
//! and commands run from it the way a container engine would run the image:
//! `chroot` into it (in namespaces of its own, `/proc` mounted) as the image's `USER`, in its `WORKDIR`, with only its
//! `ENV` (plus what a `docker run -e` would add), its `ENTRYPOINT`, `CMD` and
//! `HEALTHCHECK` read from the Dockerfile here.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The PATH of `debian:*` images, which the image's `ENV PATH=...:$PATH` extends.
const BASE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the runtime stage of the Dockerfile says about running the image.
#[derive(Debug, Clone)]
pub struct Spec {
    pub env: Vec<(String, String)>,
    pub user: String,
    pub workdir: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// The shell command of `HEALTHCHECK ... CMD`.
    pub healthcheck: String,
}

/// The Dockerfile's instructions, comments dropped and continuations joined.
fn instructions(dockerfile: &str) -> Vec<String> {
    let kept: Vec<&str> = dockerfile
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    kept.join("\n")
        .replace("\\\n", " ")
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

impl Spec {
    /// The runtime (last) stage of `dockerfile`.
    pub fn parse(dockerfile: &str) -> Self {
        let all = instructions(dockerfile);
        let start = all
            .iter()
            .rposition(|l| l.starts_with("FROM "))
            .expect("a FROM line");
        let stage = &all[start..];
        let last = |word: &str| {
            stage
                .iter()
                .rev()
                .find_map(|l| l.strip_prefix(word).map(str::to_owned))
                .unwrap_or_else(|| panic!("the runtime stage has no {word}line"))
        };
        let exec = |word: &str| -> Vec<String> {
            serde_json::from_str(&last(word))
                .unwrap_or_else(|e| panic!("{word}is not in exec (JSON) form: {e}"))
        };
        let mut env: Vec<(String, String)> = vec![("PATH".into(), BASE_PATH.into())];
        for line in stage.iter().filter_map(|l| l.strip_prefix("ENV ")) {
            for (k, v) in line.split_whitespace().filter_map(|p| p.split_once('=')) {
                let v = v.replace("$PATH", BASE_PATH);
                env.retain(|(name, _)| name != k);
                env.push((k.to_owned(), v));
            }
        }
        let healthcheck = last("HEALTHCHECK ")
            .split_once(" CMD ")
            .map(|(_, cmd)| cmd.to_owned())
            .expect("HEALTHCHECK ... CMD <shell command>");
        Spec {
            env,
            user: last("USER "),
            workdir: last("WORKDIR "),
            entrypoint: exec("ENTRYPOINT "),
            cmd: exec("CMD "),
            healthcheck,
        }
    }

    pub fn env(&self, name: &str) -> &str {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("the image sets no {name}"))
    }
}

/// A built root filesystem and the image's spec.
pub struct Rootfs {
    pub dir: PathBuf,
    pub spec: Spec,
}

impl Rootfs {
    /// `scripts/image-rootfs dir` with this build's binary and default plugin.
    pub fn build(dir: &Path) -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace");
        let binary = Path::new(env!("CARGO_BIN_EXE_enricher"));
        let target = binary
            .parent()
            .and_then(Path::parent)
            .expect("the binary sits in TARGET/release");
        let plugins = Path::new(env!("ENRICHER_DEFAULT_PLUGIN"))
            .parent()
            .expect("the plugin's folder");
        let out = Command::new(root.join("scripts/image-rootfs"))
            .arg("--target-dir")
            .arg(target)
            .arg("--plugin-dir")
            .arg(plugins)
            .arg(dir)
            .output()
            .expect("run scripts/image-rootfs");
        assert!(
            out.status.success(),
            "scripts/image-rootfs failed:\n{}",
            super::text(&out.stderr)
        );
        let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).expect("Dockerfile");
        Rootfs {
            dir: dir.to_owned(),
            spec: Spec::parse(&dockerfile),
        }
    }

    /// `args` run inside the root filesystem as the image's user, in its
    /// workdir, with only the image's environment and then `extra`; as a
    /// container runtime would: in mount and PID namespaces of their own with
    /// `/proc` mounted (the loader reads `/proc/self/exe` for `$ORIGIN`),
    /// killed with the `unshare` process.
    pub fn command(&self, args: &[&str], extra: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new("unshare");
        cmd.args(["--pid", "--kill-child"])
            .arg(format!("--mount-proc={}", self.dir.join("proc").display()))
            .arg("chroot")
            .arg(format!("--userspec={}", self.spec.user))
            .arg(&self.dir)
            .args(["/usr/bin/env", "-i"])
            .arg(format!("--chdir={}", self.spec.workdir));
        for (k, v) in &self.spec.env {
            cmd.arg(format!("{k}={v}"));
        }
        for (k, v) in extra {
            cmd.arg(format!("{k}={v}"));
        }
        cmd.args(args);
        cmd
    }

    /// The image's `ENTRYPOINT` with `args` in place of its `CMD`.
    pub fn enricher(&self, args: &[&str], extra: &[(&str, &str)]) -> Command {
        let mut all: Vec<&str> = self.spec.entrypoint.iter().map(String::as_str).collect();
        all.extend_from_slice(args);
        self.command(&all, extra)
    }
}
