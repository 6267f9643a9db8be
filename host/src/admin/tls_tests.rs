//! The admin API over TLS: a self-signed certificate made here (rcgen), a
//! server serving it and a client trusting it; clients that do not trust it,
//! or speak plain HTTP, get nothing.

use std::path::PathBuf;

use super::tests::start_with;
use super::*;
use crate::deploy::PluginAdmin;

/// A self-signed certificate for 127.0.0.1 and localhost, and its key, as PEM files.
fn self_signed(dir: &str) -> TlsFiles {
    let dir = std::env::temp_dir().join(format!("enricher-tls-{dir}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    let made = rcgen::generate_simple_self_signed(names).expect("a certificate");
    let (cert, key): (PathBuf, PathBuf) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).expect("write the certificate");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("write the key");
    TlsFiles { cert, key }
}

#[test]
fn over_tls_a_client_trusting_the_certificate_is_served_and_others_are_not() {
    let files = self_signed("serve");
    let options = AdminOptions {
        tls: Some(files.clone()),
        ..AdminOptions::default()
    };
    let (fake, server, _plain) = start_with(options);
    let addr = server.local_addr();
    let client = AdminClient::new(&addr.to_string())
        .trusting(&files.cert)
        .expect("trust the certificate");
    assert_eq!(client.status().expect("status over TLS"), fake.status());
    client
        .deploy(b"wasm", Some("over-tls"))
        .expect("deploy over TLS");
    let untrusting = AdminClient::new(&format!("https://{addr}"));
    assert!(
        matches!(untrusting.status(), Err(ClientError::Protocol(_))),
        "an unknown certificate"
    );
    let plain = AdminClient::new(&addr.to_string());
    assert!(plain.status().is_err(), "plain HTTP is not served");
    assert_eq!(fake.calls.lock().expect("lock").len(), 1);
}

#[test]
fn missing_or_mismatched_tls_files_refuse_to_start() {
    let api =
        || std::sync::Arc::new(tests::FakeAdmin::default()) as std::sync::Arc<dyn PluginAdmin>;
    let one = self_signed("one");
    let other = self_signed("other");
    let cases = [
        TlsFiles {
            cert: "/no/such/cert.pem".into(),
            key: one.key.clone(),
        },
        TlsFiles {
            cert: one.cert.clone(),
            key: other.key.clone(),
        },
        TlsFiles {
            cert: one.key.clone(),
            key: one.key.clone(),
        },
    ];
    for files in cases {
        let options = AdminOptions {
            tls: Some(files.clone()),
            ..AdminOptions::default()
        };
        match AdminServer::start(([127, 0, 0, 1], 0).into(), api(), options) {
            Err(e @ AdminStartError::Tls(_)) => {
                assert!(e.to_string().contains("admin.tls-cert"), "{e}")
            }
            Err(e) => panic!("{files:?}: expected a TLS refusal, got {e}"),
            Ok(_) => panic!("{files:?}: started"),
        }
    }
}
