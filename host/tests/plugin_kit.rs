//! The plugin kit as an author meets it, with the real binary, cargo and
//! wasmtime: `enricher plugin new` writes a Rust project that `plugin build`
//! turns into a component (checked as a deploy checks it) and that passes
//! `plugin test --expect` on its own sample; a changed expected record fails
//! with a readable diff; a project built against another world fails the build
//! with the deploy check's message. `plugin new --typed` does the same on the
//! typed world. Each new Rust project's own `cargo test` (natively) passes.
//!
//! The first test to need the component builds it (wasm32-wasip2, the pinned
//! toolchain; a minute or two); the others wait for it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

#[path = "support/mod.rs"]
mod support;

use support::text;

fn enricher(args: &[&std::ffi::OsStr]) -> Output {
    support::enricher(&[])
        .args(args)
        .env_remove("ENRICHER_PLUGIN")
        .output()
        .expect("run enricher")
}

fn os(s: &str) -> &std::ffi::OsStr {
    s.as_ref()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("enricher-kit-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// `plugin build DIR`: the output, and the last line of stdout.
fn build(dir: &Path) -> (Output, String) {
    let out = enricher(&[os("plugin"), os("build"), dir.as_os_str()]);
    let last = text(&out.stdout).lines().last().unwrap_or("").to_owned();
    (out, last)
}

/// `plugin new NAME --lang LANG --dir DIR`, then `plugin build DIR`, both of
/// which must succeed: the build's output and the component it named.
fn new_and_build(dir: &Path, name: &str, lang: &str) -> (Output, PathBuf) {
    new_and_build_with(dir, name, lang, &[])
}

/// [`new_and_build`] with more `plugin new` flags (`--typed`).
fn new_and_build_with(dir: &Path, name: &str, lang: &str, flags: &[&str]) -> (Output, PathBuf) {
    let mut args = vec![
        os("plugin"),
        os("new"),
        os(name),
        os("--lang"),
        os(lang),
        os("--dir"),
        dir.as_os_str(),
    ];
    args.extend(flags.iter().map(|f| os(f)));
    let out = enricher(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (out, last) = build(dir);
    assert!(
        out.status.success(),
        "plugin build of the {lang} template failed (toolchain: scripts/plugin-toolchains):\n{}",
        text(&out.stderr)
    );
    let wasm = PathBuf::from(last);
    assert!(
        wasm.is_file(),
        "the last line names the component: {wasm:?}"
    );
    (out, wasm)
}

/// A new Rust project, built once for every test: (project dir, component).
fn built_project() -> &'static (PathBuf, PathBuf) {
    static BUILT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = scratch("new").join("kit-demo");
        let (out, wasm) = new_and_build(&dir, "kit-demo", "rust");
        assert!(
            text(&out.stderr).contains("which this host runs"),
            "the deploy check ran:\n{}",
            text(&out.stderr)
        );
        (dir, wasm)
    })
}

/// The project's own `cargo test` (natively, in its own target dir, as its
/// author runs it): it must pass and run at least one test.
fn assert_own_tests_pass(dir: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["test", "--release", "--quiet"])
        .current_dir(dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo test");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "the template's own tests fail:\n{stdout}\n{stderr}"
    );
    let ran = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("running "))
        .filter_map(|l| l.split_whitespace().next()?.parse::<u32>().ok())
        .sum::<u32>();
    assert!(ran >= 1, "no test ran:\n{stdout}");
}

fn plugin_test(wasm: &Path, dir: &Path, expect: &Path) -> Output {
    enricher(&[
        os("plugin"),
        os("test"),
        wasm.as_os_str(),
        os("--input"),
        dir.join("sample/input.jsonl").as_os_str(),
        os("--claims"),
        dir.join("sample/claims.csv").as_os_str(),
        os("--expect"),
        expect.as_os_str(),
    ])
}

#[test]
fn a_new_rust_plugin_builds_and_passes_its_sample_test() {
    let (dir, wasm) = built_project();
    let out = plugin_test(wasm, dir, &dir.join("sample/expected.jsonl"));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let outputs: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each output is JSON"))
        .collect();
    let statuses: Vec<&str> = outputs
        .iter()
        .map(|o| o["enrichment_status"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        statuses,
        [
            "SUCCESS",
            "SUCCESS",
            "SUCCESS",
            "CLAIM_NOT_FOUND",
            "INVALID_EVENT",
            "INVALID_EVENT",
            "INVALID_EVENT"
        ]
    );
    assert_eq!(outputs[0]["member_id"], "MBR-000001");
    assert!(
        text(&out.stdout).contains(r#""remaining_claim_amount":500.00"#),
        "exact money"
    );
    assert!(stderr.contains("enriched SUCCESS"), "{stderr}");
    assert!(stderr.contains("matches"), "{stderr}");
    assert_own_tests_pass(dir);
}

#[test]
fn a_new_typed_rust_plugin_builds_and_passes_its_sample_test() {
    let dir = scratch("typed").join("kit-typed");
    let (out, wasm) = new_and_build_with(&dir, "kit-typed", "rust", &["--typed"]);
    assert!(
        text(&out.stderr).contains("which this host runs"),
        "the deploy check ran:\n{}",
        text(&out.stderr)
    );
    let component = std::fs::read(&wasm).expect("the component");
    let exports_typed = component
        .windows(b"payments:enrichment/typed-transform@1.2.0".len())
        .any(|w| w == b"payments:enrichment/typed-transform@1.2.0");
    assert!(exports_typed, "a typed-enricher component");

    let out = plugin_test(&wasm, &dir, &dir.join("sample/expected.jsonl"));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("from kit-typed@0.1.0"), "{stderr}");
    assert!(stderr.contains("matches"), "{stderr}");
    let outputs: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each output is JSON"))
        .collect();
    let statuses: Vec<&str> = outputs
        .iter()
        .map(|o| o["enrichment_status"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        statuses,
        [
            "SUCCESS",
            "SUCCESS",
            "SUCCESS",
            "CLAIM_NOT_FOUND",
            "INVALID_EVENT",
            "INVALID_EVENT",
            "INVALID_JSON",
            "OVERPAID"
        ]
    );
    // The host wrote the payment's fields, the plugin's claim fields (the
    // member id and status handed back as spans) and its extra field.
    let first = text(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(
        first.starts_with(
            concat!(
                r#"{"payment_id":"PAY-1","claim_id":"CLM-0000001","payment_amount":1500.00,"#,
                r#""payment_date":"2024-01-15T10:30:00","processor_id":null,"payment_method":null,"#,
                r#""payment_status":null,"member_id":"MBR-000001","claim_amount":2000.00,"#,
                r#""claim_status":"APPROVED","remaining_claim_amount":500.00,"enrichment_status":"SUCCESS""#
            )
        ),
        "{first}"
    );
    assert_eq!(
        outputs[7]["error"],
        "payment PAY-8 of 500.00 exceeds claim CLM-0000002 of 120.25"
    );
    assert_own_tests_pass(&dir);
}

#[test]
fn a_changed_expected_record_fails_with_a_diff() {
    let (dir, wasm) = built_project();
    let expected = std::fs::read_to_string(dir.join("sample/expected.jsonl")).expect("expected");
    assert!(expected.contains("MBR-000001"));
    let changed = expected.replacen("MBR-000001", "MBR-999999", 1);
    let path = scratch("diff").join("expected.jsonl");
    std::fs::write(&path, changed).expect("write");
    let out = plugin_test(wasm, dir, &path);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            r#"differs   payment_id PAY-1: member_id: expected "MBR-999999", got "MBR-000001""#
        ),
        "{stderr}"
    );
    assert!(stderr.contains("1 difference(s)"), "{stderr}");
}

#[test]
fn a_project_built_against_another_world_fails_the_deploy_check() {
    let (dir, _) = built_project();
    // A copy with its build folder, so only the plugin and the SDK rebuild.
    let copy = scratch("world").join("kit-demo");
    let status = Command::new("cp")
        .arg("-r")
        .arg(dir)
        .arg(&copy)
        .status()
        .expect("cp");
    assert!(status.success());
    let world = copy.join("wit/world.wit");
    let text_before = std::fs::read_to_string(&world).expect("world.wit");
    std::fs::write(
        &world,
        text_before.replace("payments:enrichment@1.2.0", "payments:enrichment@2.0.0"),
    )
    .expect("write");
    let (out, _) = build(&copy);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("fails the deploy check"), "{stderr}");
    assert!(
        stderr.contains("it was built for payments:enrichment@2.0.0; this host runs"),
        "{stderr}"
    );
}

/// `plugin new --lang LANG`, `plugin build` with the toolchain
/// `scripts/plugin-toolchains` installs (scripts/test runs it; a missing
/// toolchain fails here with a message naming it), then `plugin test
/// --expect` on the template's own sample.
fn new_build_and_test(lang: &str) {
    let name = format!("kit-{lang}");
    let dir = scratch(&name).join(&name);
    let (_, wasm) = new_and_build(&dir, &name, lang);
    let out = plugin_test(&wasm, &dir, &dir.join("sample/expected.jsonl"));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("from {name}@")), "{stderr}");
    assert!(stderr.contains("enriched SUCCESS"), "{stderr}");
    assert!(stderr.contains("matches"), "{stderr}");
    let statuses: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("each output is JSON");
            v["enrichment_status"].as_str().unwrap_or("?").to_owned()
        })
        .collect();
    assert!(statuses.iter().any(|s| s == "SUCCESS"), "{statuses:?}");
    assert!(
        statuses.iter().any(|s| s == "CLAIM_NOT_FOUND"),
        "{statuses:?}"
    );
}

#[test]
fn a_new_python_plugin_builds_and_passes_its_sample_test() {
    new_build_and_test("python");
}

#[test]
fn a_new_js_plugin_builds_and_passes_its_sample_test() {
    new_build_and_test("js");
}

#[test]
fn the_toolchains_folder_is_a_setting_of_the_file_the_environment_and_the_flag() {
    let root = scratch("toolchains");
    let dir = root.join("kit-tools");
    let out = enricher(&[
        os("plugin"),
        os("new"),
        os("kit-tools"),
        os("--lang"),
        os("python"),
        os("--dir"),
        dir.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let config = root.join("enricher.toml");
    std::fs::write(
        &config,
        "[plugin]\ntoolchains = \"/nonexistent/from-file\"\n",
    )
    .expect("config");
    // The folder the build looked in, from its refusal (no componentize-py on this PATH).
    let looked_in = |env: Option<&str>, flag: Option<&str>| -> String {
        let mut cmd = support::enricher(&["plugin", "build"]);
        cmd.arg(&dir)
            .env("ENRICHER_CONFIG", &config)
            .env("PATH", "/nonexistent/bin")
            .env_remove("ENRICHER_TOOLCHAINS");
        if let Some(env) = env {
            cmd.env("ENRICHER_TOOLCHAINS", env);
        }
        if let Some(flag) = flag {
            cmd.args(["--toolchains", flag]);
        }
        let out = cmd.output().expect("run enricher");
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        let at = stderr
            .find("componentize-py not found in ")
            .unwrap_or_else(|| panic!("no toolchain error: {stderr}"));
        stderr[at + "componentize-py not found in ".len()..]
            .split(" nor on PATH")
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(looked_in(None, None), "/nonexistent/from-file");
    assert_eq!(
        looked_in(Some("/nonexistent/from-env"), None),
        "/nonexistent/from-env"
    );
    assert_eq!(
        looked_in(
            Some("/nonexistent/from-env"),
            Some("/nonexistent/from-flag")
        ),
        "/nonexistent/from-flag"
    );
    let _ = std::fs::remove_dir_all(&root);
}
