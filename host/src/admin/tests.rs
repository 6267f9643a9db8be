//! Round trips through the admin API's HTTP layer: a fake [`PluginAdmin`]
//! with canned answers behind a real server on 127.0.0.1:0, and the real client.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use super::*;
use crate::deploy::{DeployReport, PluginAdmin, PluginStatus, RollbackReport, VersionInfo};

/// What the fake API was asked.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Call {
    Deploy { wasm: Vec<u8>, name: Option<String> },
    Rollback,
}

/// Canned answers; `refuse` makes deploy and rollback fail with it.
#[derive(Default)]
pub(super) struct FakeAdmin {
    pub(super) calls: Mutex<Vec<Call>>,
    pub(super) refuse: Mutex<Option<AdminError>>,
    /// The signature each deploy came with.
    signatures: Mutex<Vec<Option<Vec<u8>>>>,
}

fn version(key: &str, active: bool) -> VersionInfo {
    let (name, version) = key.split_once('@').expect("name@version");
    VersionInfo {
        key: key.into(),
        name: name.into(),
        version: version.into(),
        world: "payments:enrichment@1.2.0".into(),
        sha256: "ab".repeat(32),
        size_bytes: 123_456,
        loaded_at_ms: 1_700_000_000_000,
        active,
        signed_by: None,
    }
}

impl FakeAdmin {
    fn refusal(&self) -> Option<AdminError> {
        self.refuse.lock().expect("lock").clone()
    }
}

impl PluginAdmin for FakeAdmin {
    fn deploy_signed(
        &self,
        wasm: &[u8],
        name: Option<&str>,
        signature: Option<&[u8]>,
    ) -> Result<DeployReport, AdminError> {
        let signature = signature.map(<[u8]>::to_vec);
        self.signatures.lock().expect("lock").push(signature);
        self.deploy(wasm, name)
    }
    fn deploy(&self, wasm: &[u8], name: Option<&str>) -> Result<DeployReport, AdminError> {
        let call = Call::Deploy {
            wasm: wasm.to_vec(),
            name: name.map(str::to_owned),
        };
        self.calls.lock().expect("lock").push(call);
        if let Some(e) = self.refusal() {
            return Err(e);
        }
        Ok(DeployReport {
            deployed: version(&format!("{}@0.2.0", name.unwrap_or("p")), true),
            fleet: true,
            checks: vec!["component".into(), "canary 4/4".into()],
            check_ms: 812,
        })
    }
    fn list(&self) -> Vec<VersionInfo> {
        vec![version("p@0.2.0", true), version("p@0.1.0", false)]
    }
    fn rollback(&self) -> Result<RollbackReport, AdminError> {
        self.calls.lock().expect("lock").push(Call::Rollback);
        match self.refusal() {
            Some(e) => Err(e),
            None => Ok(RollbackReport {
                from: "p@0.2.0".into(),
                to: "p@0.1.0".into(),
                fleet: false,
            }),
        }
    }
    fn status(&self) -> PluginStatus {
        PluginStatus {
            active: version("p@0.2.0", true),
            previous: Some("p@0.1.0".into()),
            activated_at_ms: 1_700_000_000_000,
            events_processed: 1000,
            plugin_errors: 3,
            error_rate: 0.003,
            swaps: 2,
            rollbacks: 1,
            last_swap_pause_us: Some(850),
            fleet_topic: Some("_enricher.plugins".into()),
            last_event: None,
            trusted_keys: Vec::new(),
            rejected: Vec::new(),
            claims_changelog: None,
        }
    }
}

/// A server over a fresh [`FakeAdmin`] on 127.0.0.1, and a client of it.
pub(super) fn start() -> (Arc<FakeAdmin>, AdminServer, AdminClient) {
    start_with(AdminOptions::default())
}

/// [`start`], served with `options`.
pub(super) fn start_with(options: AdminOptions) -> (Arc<FakeAdmin>, AdminServer, AdminClient) {
    let fake = Arc::new(FakeAdmin::default());
    let api: Arc<dyn PluginAdmin> = Arc::clone(&fake) as Arc<dyn PluginAdmin>;
    let server = AdminServer::start(([127, 0, 0, 1], 0).into(), api, options).expect("start");
    let client = AdminClient::new(&format!("http://{}/", server.local_addr()));
    (fake, server, client)
}

/// Send `request` as is; the status, the head and the body of the answer.
pub(super) fn raw(addr: SocketAddr, request: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read the answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head");
    let status = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (status, head.to_owned(), body.to_owned())
}

pub(super) fn error_of(body: &str) -> AdminError {
    serde_json::from_str::<ErrorBody>(body)
        .expect("a JSON error body")
        .error
}

#[test]
fn deploy_passes_the_bytes_and_the_url_decoded_name() {
    let (fake, _server, client) = start();
    let wasm = b"\0asm\x0d\0\x01\0 not really a component".to_vec();
    let report = client
        .deploy(&wasm, Some("my-plugin+co.v2"))
        .expect("deploy");
    assert_eq!(report.deployed.key, "my-plugin+co.v2@0.2.0");
    assert_eq!(report.checks, ["component", "canary 4/4"]);
    client.deploy(b"x", None).expect("deploy without a name");
    let calls = fake.calls.lock().expect("lock").clone();
    assert_eq!(
        calls,
        [
            Call::Deploy {
                wasm,
                name: Some("my-plugin+co.v2".into())
            },
            Call::Deploy {
                wasm: b"x".to_vec(),
                name: None
            },
        ]
    );
}

#[test]
fn expect_100_continue_gets_its_interim_answer() {
    let (fake, server, _client) = start();
    let mut stream = TcpStream::connect(server.local_addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let head = "POST /v1/plugins HTTP/1.1\r\nContent-Type: application/wasm\r\n\
                Content-Length: 4\r\nExpect: 100-continue\r\n\r\n";
    stream.write_all(head.as_bytes()).expect("write");
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).expect("read");
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(b"wasm").expect("write the body");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read the answer");
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    let calls = fake.calls.lock().expect("lock").clone();
    assert_eq!(
        calls,
        [Call::Deploy {
            wasm: b"wasm".to_vec(),
            name: None
        }]
    );
}

#[test]
fn list_status_and_rollback_come_back_as_served() {
    let (fake, _server, client) = start();
    assert_eq!(client.list().expect("list"), fake.list());
    assert_eq!(client.status().expect("status"), fake.status());
    let report = client.rollback().expect("rollback");
    assert_eq!(
        (report.from.as_str(), report.to.as_str()),
        ("p@0.2.0", "p@0.1.0")
    );
    assert_eq!(*fake.calls.lock().expect("lock"), [Call::Rollback]);
}

#[test]
fn each_refusal_has_its_status_and_reaches_the_client_unchanged() {
    let (fake, server, client) = start();
    let cases = [
        (AdminError::Rejected("not a component".into()), 422),
        (AdminError::Conflict("nothing to roll back to".into()), 409),
        (AdminError::Unavailable("fleet topic down".into()), 503),
        (AdminError::BadRequest("odd".into()), 400),
    ];
    for (error, status) in cases {
        *fake.refuse.lock().expect("lock") = Some(error.clone());
        let rollback = "POST /v1/plugins/rollback HTTP/1.1\r\nConnection: close\r\n\r\n";
        let (got, _, body) = raw(server.local_addr(), rollback);
        assert_eq!((got, error_of(&body)), (status, error.clone()));
        match client.deploy(b"wasm", None) {
            Err(ClientError::Refused(e)) => assert_eq!(e, error),
            other => panic!("expected {error:?} refused, got {other:?}"),
        }
    }
}

#[test]
fn unknown_paths_are_404_and_wrong_methods_405_with_json_errors() {
    let (fake, server, _client) = start();
    let (status, _, body) = raw(server.local_addr(), "GET /v2/nothing HTTP/1.1\r\n\r\n");
    assert_eq!(status, 404);
    assert!(matches!(error_of(&body), AdminError::BadRequest(m) if m.contains("/v2/nothing")));
    let (status, head, body) = raw(server.local_addr(), "DELETE /v1/plugins HTTP/1.1\r\n\r\n");
    assert_eq!(status, 405);
    assert!(head.contains("Allow: GET, POST"), "{head}");
    assert!(matches!(error_of(&body), AdminError::BadRequest(m) if m.contains("DELETE")));
    let (status, _, _) = raw(
        server.local_addr(),
        "GET /v1/plugins/rollback HTTP/1.1\r\n\r\n",
    );
    assert_eq!(status, 405);
    let (status, _, body) = raw(server.local_addr(), "GET /healthz HTTP/1.1\r\n\r\n");
    assert_eq!((status, body.as_str()), (200, "ok"));
    assert!(fake.calls.lock().expect("lock").is_empty());
}

#[test]
fn oversized_and_empty_bodies_are_refused_without_deploying() {
    let (fake, server, client) = start();
    // Declares 100 GB, sends none of it, keeps the connection open: the
    // answer must come anyway, and the host must survive it.
    let huge = "POST /v1/plugins HTTP/1.1\r\nContent-Type: application/wasm\r\n\
                Content-Length: 100000000000\r\n\r\n";
    let (status, head, body) = raw(server.local_addr(), huge);
    assert_eq!(status, 413, "{head}");
    assert!(matches!(error_of(&body), AdminError::BadRequest(m) if m.contains("limit")));
    let empty = "POST /v1/plugins HTTP/1.1\r\nContent-Type: application/wasm\r\n\
                 Content-Length: 0\r\n\r\n";
    assert_eq!(raw(server.local_addr(), empty).0, 400);
    // Through the client: the host answers before the body is all sent.
    match client.deploy(&vec![0u8; MAX_PLUGIN_BYTES + 1], None) {
        Err(ClientError::Refused(AdminError::BadRequest(m))) => assert!(m.contains("limit")),
        other => panic!("expected a 413 refusal, got {other:?}"),
    }
    assert!(fake.calls.lock().expect("lock").is_empty());
    assert_eq!(
        raw(server.local_addr(), "GET /healthz HTTP/1.1\r\n\r\n").0,
        200
    );
}

#[test]
fn a_closed_port_is_a_connect_error_naming_the_address() {
    let (_fake, server, _client) = start();
    let addr = server.local_addr();
    drop(server);
    match AdminClient::new(&addr.to_string()).status() {
        Err(e @ ClientError::Connect { .. }) => {
            let message = e.to_string();
            assert!(message.contains(&addr.to_string()), "{message}");
            assert!(message.contains("ENRICHER_ADMIN_BIND"), "{message}");
        }
        other => panic!("expected a connect error, got {other:?}"),
    }
}

#[test]
fn query_names_are_url_decoded_and_bad_escapes_refused() {
    let (fake, server, client) = start();
    let name = "my+plugin-1.0";
    let report = client.deploy(b"x", Some(name)).expect("deploy");
    assert_eq!(report.deployed.key, format!("{name}@0.2.0"));
    let deploy = |query: &str| {
        let request = format!(
            "POST /v1/plugins?{query} HTTP/1.1\r\nContent-Type: application/wasm\r\n\
             Content-Length: 1\r\n\r\nx"
        );
        raw(server.local_addr(), &request).0
    };
    assert_eq!(deploy("name=my%2Bplugin"), 200);
    assert_eq!(deploy("name=%zz"), 400, "a malformed escape");
    assert_eq!(deploy("name=%ff"), 400, "not UTF-8");
    let deployed = |name: &str| Call::Deploy {
        wasm: b"x".to_vec(),
        name: Some(name.into()),
    };
    let calls = fake.calls.lock().expect("lock").clone();
    assert_eq!(calls, [deployed(name), deployed("my+plugin")]);
}

#[test]
fn a_slow_client_does_not_hold_up_the_others() {
    let (fake, server, client) = start();
    let addr = server.local_addr();
    let (stop, stopped) = mpsc::channel::<()>();
    // Connects and sends its request head a byte a second.
    let drip = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(addr).expect("connect");
        for byte in b"GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n" {
            if stream.write_all(&[*byte]).is_err() {
                return;
            }
            if stopped.recv_timeout(Duration::from_secs(1)).is_ok() {
                return;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(1500));
    let started = Instant::now();
    assert_eq!(client.status().expect("status"), fake.status());
    assert_eq!(raw(addr, "GET /healthz HTTP/1.1\r\n\r\n").0, 200);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "took {took:?} next to a slow client"
    );
    stop.send(()).expect("stop the slow client");
    drip.join().expect("the slow client");
}

#[test]
fn a_deploy_carries_its_signature_in_a_header_and_an_untrusted_one_is_a_403() {
    let (fake, server, client) = start();
    // 64 bytes as base64 (a `.sig` file's text, its newline dropped), and as raw bytes.
    let text = format!("{}==", "A".repeat(86));
    let file = format!("{text}\n");
    client
        .deploy_signed(b"wasm", None, Some(file.as_bytes()))
        .expect("deploy");
    client
        .deploy_signed(b"wasm", None, Some(&[0u8; 64]))
        .expect("deploy with a raw signature");
    client.deploy(b"wasm", None).expect("deploy unsigned");
    let seen = fake.signatures.lock().expect("lock").clone();
    let sent = Some(text.into_bytes());
    assert_eq!(seen, vec![sent.clone(), sent, None]);
    assert!(matches!(
        client.deploy_signed(b"wasm", None, Some(b"not a signature")),
        Err(ClientError::BadSignature(_))
    ));
    let why = "the component is not signed".to_owned();
    *fake.refuse.lock().expect("lock") = Some(AdminError::Untrusted(why.clone()));
    let request = "POST /v1/plugins HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\n\
                   Content-Length: 4\r\nConnection: close\r\n\r\nwasm";
    let (status, _, body) = raw(server.local_addr(), request);
    assert_eq!((status, error_of(&body)), (403, AdminError::Untrusted(why)));
}
