//! `enricher plugin keygen` and `enricher plugin sign` as an operator runs
//! them: the key files (the private one readable by its owner only), the
//! detached signature beside the component, and that OpenSSL reads both ways.

use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use enricher::deploy::signature::{TrustedKeys, signature_path};

use super::{Dir, enricher, ok};

fn path(p: &std::path::Path) -> &str {
    p.to_str().expect("utf8 path")
}

#[test]
fn keygen_writes_a_private_key_for_its_owner_only_and_sign_writes_a_verifiable_sig() {
    let dir = Dir::new("keygen");
    let prefix = dir.join("ops");
    let said = ok(enricher(&["plugin", "keygen", "--out", path(&prefix)]));
    assert!(said.contains("ed25519:"), "{said}");
    let (private, public) = (dir.join("ops.key"), dir.join("ops.pub"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&private)
            .expect("ops.key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the private key is its owner's only");
    }
    // A second keygen keeps the existing keys.
    let again = enricher(&["plugin", "keygen", "--out", path(&prefix)])
        .output()
        .expect("run");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));

    let component = dir.join("p.wasm");
    std::fs::write(&component, b"\0asm any bytes").expect("write");
    ok(enricher(&[
        "plugin",
        "sign",
        path(&component),
        "--key",
        path(&private),
    ]));
    let sig = std::fs::read(signature_path(&component)).expect("p.wasm.sig");
    let trusted = TrustedKeys::load(std::slice::from_ref(&public)).expect("public key");
    assert!(trusted.verify(b"\0asm any bytes", Some(&sig)).is_ok());
    assert!(trusted.verify(b"\0asm other bytes", Some(&sig)).is_err());

    // OpenSSL (scripts/setup installs it) verifies our signature and makes keys we read.
    let openssl = Command::new("openssl").arg("version").output().is_ok();
    if crate::support::skip_without(
        "openssl",
        openssl,
        "signature interoperability with OpenSSL",
    ) {
        return;
    }
    let raw = BASE64
        .decode(String::from_utf8_lossy(&sig).trim())
        .expect("base64");
    let raw_path = dir.join("p.raw.sig");
    std::fs::write(&raw_path, raw).expect("write");
    let verified = Command::new("openssl")
        .args([
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            path(&public),
            "-rawin",
        ])
        .args(["-in", path(&component), "-sigfile", path(&raw_path)])
        .output()
        .expect("openssl");
    assert!(verified.status.success(), "{verified:?}");
    let theirs = dir.join("theirs.key");
    let made = Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out", path(&theirs)])
        .status()
        .expect("openssl");
    assert!(made.success());
    let theirs_pub = dir.join("theirs.pub");
    let pubout = Command::new("openssl")
        .args([
            "pkey",
            "-in",
            path(&theirs),
            "-pubout",
            "-out",
            path(&theirs_pub),
        ])
        .status()
        .expect("openssl");
    assert!(pubout.success());
    ok(enricher(&[
        "plugin",
        "sign",
        path(&component),
        "--key",
        path(&theirs),
    ]));
    let sig = std::fs::read(signature_path(&component)).expect("p.wasm.sig");
    let trusted = TrustedKeys::load(&[theirs_pub]).expect("openssl's public key");
    assert!(trusted.verify(b"\0asm any bytes", Some(&sig)).is_ok());
}
