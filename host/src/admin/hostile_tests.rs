//! The admin API against hostile clients, over real TCP connections: idle
//! and slow-drip connections, more connections than the limit, cross-origin
//! writes, wrong content types, unsafe names, missing or wrong tokens.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use super::tests::{Call, FakeAdmin, error_of, raw, start, start_with};
use super::*;
use crate::deploy::PluginAdmin;

const TOKEN: &str = "test-admin-token-0123456789";

fn with_token(open_reads: bool) -> AdminOptions {
    AdminOptions {
        access: AdminAccess::new(Some(TOKEN), open_reads),
        ..AdminOptions::default()
    }
}

/// Sends its request head one byte a second until told to stop.
fn slow_drip(addr: SocketAddr) -> (mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (stop, stopped) = mpsc::channel::<()>();
    let drip = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(addr).expect("connect");
        for byte in b"GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n" {
            if stream.write_all(&[*byte]).is_err()
                || stopped.recv_timeout(Duration::from_secs(1)).is_ok()
            {
                return;
            }
        }
    });
    (stop, drip)
}

#[test]
fn status_answers_within_a_second_next_to_200_idle_connections_and_a_slow_drip() {
    let (fake, server, client) = start();
    let addr = server.local_addr();
    let idle: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(addr).expect("connect an idle client"))
        .collect();
    let (stop, drip) = slow_drip(addr);
    std::thread::sleep(Duration::from_millis(1500));
    let started = Instant::now();
    assert_eq!(client.status().expect("status"), fake.status());
    assert_eq!(raw(addr, "GET /healthz HTTP/1.1\r\n\r\n").0, 200);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "took {took:?} next to 200 idle clients"
    );
    stop.send(()).expect("stop the slow client");
    drip.join().expect("the slow client");
    drop(idle);
}

#[test]
fn a_connection_over_the_limit_is_answered_503_at_once_not_queued() {
    let options = AdminOptions {
        max_connections: 4,
        ..AdminOptions::default()
    };
    let (_fake, server, client) = start_with(options);
    let addr = server.local_addr();
    let idle: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let (status, head, body) = raw(addr, "GET /v1/status HTTP/1.1\r\n\r\n");
    assert_eq!(status, 503, "{head}");
    assert!(head.contains("Retry-After: 1"), "{head}");
    assert!(matches!(error_of(&body), AdminError::Unavailable(m) if m.contains('4')));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "answered at once"
    );
    drop(idle);
    // Once they are gone, calls are served again.
    std::thread::sleep(Duration::from_millis(200));
    client.status().expect("served again");
}

#[test]
fn an_idle_connection_is_closed_after_the_header_deadline() {
    let (_fake, server, _client) = start();
    let mut idle = TcpStream::connect(server.local_addr()).expect("connect");
    idle.set_read_timeout(Some(server::HEADER_READ_TIMEOUT * 3))
        .expect("timeout");
    let started = Instant::now();
    let mut answer = Vec::new();
    let _ = idle.read_to_end(&mut answer);
    let took = started.elapsed();
    assert!(
        took < server::HEADER_READ_TIMEOUT * 2,
        "closed after {took:?}"
    );
}

/// A write request with `headers`, the way a browser page elsewhere sends one.
fn post(addr: SocketAddr, path: &str, headers: &str, body: &str) -> (u16, String, String) {
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    raw(addr, &request)
}

#[test]
fn cross_origin_writes_are_refused_and_same_origin_ones_served() {
    let (fake, server, _client) = start();
    let addr = server.local_addr();
    let wasm = "Content-Type: application/wasm\r\n";
    for origin in ["http://evil.example", "null", "http://127.0.0.1:1"] {
        let headers = format!("Origin: {origin}\r\n");
        let (status, _, body) = post(addr, "/v1/plugins/rollback", &headers, "");
        assert_eq!(status, 403, "{origin}");
        assert!(matches!(error_of(&body), AdminError::Forbidden(m) if m.contains(origin)));
        let (status, _, _) = post(addr, "/v1/plugins", &format!("{headers}{wasm}"), "x");
        assert_eq!(status, 403, "{origin}");
    }
    let cross_site = "Sec-Fetch-Site: cross-site\r\n";
    assert_eq!(post(addr, "/v1/plugins/rollback", cross_site, "").0, 403);
    assert!(fake.calls.lock().expect("lock").is_empty(), "nothing ran");
    let same = format!("Origin: http://{addr}\r\n");
    assert_eq!(post(addr, "/v1/plugins/rollback", &same, "").0, 200);
    assert_eq!(
        post(addr, "/v1/plugins", &format!("{same}{wasm}"), "x").0,
        200
    );
    assert_eq!(fake.calls.lock().expect("lock").len(), 2);
}

#[test]
fn deploys_need_a_component_content_type() {
    let (fake, server, _client) = start();
    let addr = server.local_addr();
    for refused in [
        "Content-Type: text/plain\r\n",
        "Content-Type: application/x-www-form-urlencoded\r\n",
        "Content-Type: multipart/form-data; boundary=x\r\n",
        "",
    ] {
        let (status, _, body) = post(addr, "/v1/plugins", refused, "wasm");
        assert_eq!(status, 415, "{refused:?}");
        assert!(
            matches!(error_of(&body), AdminError::BadRequest(m) if m.contains("application/wasm"))
        );
    }
    assert!(
        fake.calls.lock().expect("lock").is_empty(),
        "nothing deployed"
    );
    for accepted in [
        "application/wasm",
        "Application/Octet-Stream; charset=binary",
    ] {
        let headers = format!("Content-Type: {accepted}\r\n");
        assert_eq!(
            post(addr, "/v1/plugins", &headers, "wasm").0,
            200,
            "{accepted}"
        );
    }
}

#[test]
fn unsafe_plugin_names_are_refused_with_422_and_never_echoed_raw() {
    let (fake, server, client) = start();
    for name in ["evil\n\u{1b}[2Jname", "a/b", "two words", &"x".repeat(65)] {
        match client.deploy(b"wasm", Some(name)) {
            Err(ClientError::Refused(AdminError::Rejected(why))) => {
                assert!(why.contains("A-Z a-z 0-9"), "{why}");
                assert!(!why.contains('\n') && !why.contains('\u{1b}'), "{why:?}");
            }
            other => panic!("{name:?}: expected a 422 refusal, got {other:?}"),
        }
    }
    let request = "POST /v1/plugins?name=a%0Ab HTTP/1.1\r\nContent-Type: application/wasm\r\n\
                   Content-Length: 1\r\n\r\nx";
    assert_eq!(raw(server.local_addr(), request).0, 422);
    assert!(
        fake.calls.lock().expect("lock").is_empty(),
        "nothing deployed"
    );
}

#[test]
fn writes_need_the_token_and_reads_only_when_closed() {
    let (fake, server, anonymous) = start_with(with_token(true));
    let addr = server.local_addr();
    let (status, head, body) = post(addr, "/v1/plugins/rollback", "", "");
    assert_eq!(status, 401);
    assert!(head.contains("Www-Authenticate: Bearer"), "{head}");
    assert!(
        matches!(error_of(&body), AdminError::Unauthorized(m) if m.contains("ENRICHER_ADMIN_TOKEN"))
    );
    let wrong = "Authorization: Bearer not-the-token-0123456789\r\n";
    assert_eq!(post(addr, "/v1/plugins/rollback", wrong, "").0, 401);
    let wasm = "Content-Type: application/wasm\r\n";
    assert_eq!(post(addr, "/v1/plugins", wasm, "x").0, 401);
    assert!(matches!(
        anonymous.deploy(b"x", None),
        Err(ClientError::Refused(AdminError::Unauthorized(_)))
    ));
    assert!(fake.calls.lock().expect("lock").is_empty(), "nothing ran");
    anonymous.status().expect("reads are open");
    anonymous.list().expect("reads are open");
    let admin = anonymous.clone().with_token(Some(TOKEN.into()));
    admin.rollback().expect("the token may roll back");
    admin.deploy(b"x", None).expect("and deploy");
    assert_eq!(fake.calls.lock().expect("lock").len(), 2);

    let (_fake, server, anonymous) = start_with(with_token(false));
    assert!(matches!(
        anonymous.status(),
        Err(ClientError::Refused(AdminError::Unauthorized(_)))
    ));
    assert!(matches!(
        anonymous.list(),
        Err(ClientError::Refused(AdminError::Unauthorized(_)))
    ));
    let admin = anonymous.with_token(Some(TOKEN.into()));
    admin.status().expect("with the token");
    let healthz = raw(server.local_addr(), "GET /healthz HTTP/1.1\r\n\r\n");
    assert_eq!(healthz.0, 200, "health stays open");
}

#[test]
fn a_non_loopback_bind_without_a_token_refuses_to_start() {
    let api = || Arc::new(FakeAdmin::default()) as Arc<dyn PluginAdmin>;
    let open = ([0, 0, 0, 0], 0).into();
    match AdminServer::start(open, api(), AdminOptions::default()) {
        Err(e @ AdminStartError::NoToken { .. }) => {
            let message = e.to_string();
            assert!(message.contains("ENRICHER_ADMIN_TOKEN"), "{message}");
            assert!(message.contains("0.0.0.0"), "{message}");
        }
        Err(e) => panic!("expected a refusal for want of a token, got {e}"),
        Ok(_) => panic!("started on 0.0.0.0 without a token"),
    }
    let server = AdminServer::start(open, api(), with_token(true)).expect("with a token");
    assert!(server.local_addr().ip().is_unspecified());
}

/// Collects what the log writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn each_deploy_and_rollback_leaves_an_audit_line_with_the_token_id_only() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _logs = tracing::subscriber::set_default(subscriber);
    let (fake, _server, client) = start_with(with_token(true));
    let admin = client.with_token(Some(TOKEN.into()));
    admin.deploy(b"wasm", Some("audited")).expect("deploy");
    *fake.refuse.lock().expect("lock") = Some(AdminError::Conflict("nothing before".into()));
    let _ = admin.rollback();
    let anonymous = admin.clone().with_token(None);
    let _ = anonymous.rollback();
    let text = String::from_utf8(logs.0.lock().expect("lock").clone()).expect("utf-8");
    let audit: Vec<&str> = text.lines().filter(|l| l.contains(" audit:")).collect();
    let id = token_id(TOKEN);
    assert_eq!(audit.len(), 3, "{text}");
    assert!(
        audit[0].contains(&format!("token_id=\"{id}\"")) || audit[0].contains(&id),
        "{}",
        audit[0]
    );
    assert!(
        audit[0].contains("name=\"audited\"") && audit[0].contains("version=\"0.2.0\""),
        "{}",
        audit[0]
    );
    assert!(
        audit[0].contains(&"ab".repeat(32)) && audit[0].contains("deployed"),
        "{}",
        audit[0]
    );
    assert!(
        audit[1].contains("rollback") && audit[1].contains("nothing before"),
        "{}",
        audit[1]
    );
    assert!(audit[2].contains("unauthorized"), "{}", audit[2]);
    assert!(!text.contains(TOKEN), "the token itself is never logged");
    assert_eq!(fake.calls.lock().expect("lock").len(), 2);
    assert!(matches!(
        fake.calls.lock().expect("lock")[1],
        Call::Rollback
    ));
}
