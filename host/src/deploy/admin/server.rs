//! The admin API's HTTP server: one thread that accepts connections and
//! answers one request per connection (`Connection: close`), routing it to a
//! [`PluginAdmin`] and answering JSON with a `Content-Length`. Stops (and
//! joins its thread) when dropped.
//!
//! HTTP/1.1 is parsed here on `std::net` rather than with `tiny_http`: that
//! crate (0.12) drains an unread request body on drop into a buffer of the
//! declared size, so one request with `Content-Length: 100000000000` aborts the
//! process; this server answers 413 without reading or allocating it.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Answer, MAX_PLUGIN_BYTES, percent_decode, status_of};
use crate::deploy::{AdminError, PluginAdmin};

/// How long one read or write on a connection may wait for the client.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest request head (request line and headers) read.
const MAX_HEAD_BYTES: u64 = 16 * 1024;
/// After answering, what the client may still be sending is read and dropped
/// for this long, so closing does not reset the connection before it reads
/// the answer.
const LINGER: Duration = Duration::from_secs(2);

/// A running admin API. Dropping it stops it.
pub struct AdminServer {
    addr: SocketAddr,
    /// Tells the accepting thread that the next connection means "stop".
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl AdminServer {
    /// Listen on `bind` (port 0 picks one, see [`Self::local_addr`]) and serve
    /// `api` on a thread of its own.
    pub fn start(bind: SocketAddr, api: Arc<dyn PluginAdmin>) -> io::Result<AdminServer> {
        let listener = TcpListener::bind(bind)?;
        let addr = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("admin-api".into())
            .spawn({
                let stopping = Arc::clone(&stopping);
                move || serve(&listener, api.as_ref(), &stopping)
            })?;
        tracing::debug!(%addr, "admin API started");
        Ok(AdminServer {
            addr,
            stopping,
            thread: Some(thread),
        })
    }

    /// The address it listens on (the chosen port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the blocking `accept` with a connection of our own.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(if wake.is_ipv4() {
                [127, 0, 0, 1].into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        if let Err(e) = TcpStream::connect_timeout(&wake, Duration::from_secs(1)) {
            // Joining could wait forever; the thread stops at its next connection.
            tracing::warn!(error = %e, "admin API: cannot wake the server thread, leaving it");
            return;
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the admin API thread panicked");
        }
        tracing::debug!(addr = %self.addr, "admin API stopped");
    }
}

fn serve(listener: &TcpListener, api: &dyn PluginAdmin, stopping: &AtomicBool) {
    loop {
        let accepted = listener.accept();
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok((stream, peer)) => {
                if let Err(e) = handle(&stream, api) {
                    tracing::debug!(%peer, error = %e, "admin API: connection failed");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "admin API: accepting a connection failed");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Read one request, answer it, close.
fn handle(stream: &TcpStream, api: &dyn PluginAdmin) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut reader = BufReader::new(stream);
    let answer = match read_head(&mut reader)? {
        Ok(head) => {
            let answer = route(&head, &mut reader, stream, api)?;
            let (method, target) = (&head.method, &head.target);
            tracing::debug!(%method, %target, status = answer.status, "admin API request");
            answer
        }
        Err(why) => Answer::refusal(400, AdminError::BadRequest(why)),
    };
    let mut writer = stream;
    writer.write_all(&answer.to_bytes())?;
    writer.flush()?;
    stream.shutdown(Shutdown::Write)?;
    linger(reader);
    Ok(())
}

/// Drop what the client still sends, for a while, then let the socket close.
fn linger(mut reader: BufReader<&TcpStream>) {
    let deadline = Instant::now() + LINGER;
    let mut scratch = [0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || reader.get_ref().set_read_timeout(Some(left)).is_err() {
            return;
        }
        match reader.read(&mut scratch) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn route(
    head: &Head,
    body: &mut impl BufRead,
    stream: &TcpStream,
    api: &dyn PluginAdmin,
) -> io::Result<Answer> {
    let (path, query) = head.target.split_once('?').unwrap_or((&head.target, ""));
    let path = match path.trim_end_matches('/') {
        "" => "/",
        p => p,
    };
    Ok(match (path, head.method.as_str()) {
        ("/v1/plugins", "POST") => deploy(head, query, body, stream, api)?,
        ("/v1/plugins", "GET") => Answer::json(200, &api.list()),
        ("/v1/plugins/rollback", "POST") => match api.rollback() {
            Ok(report) => {
                let (from, to) = (&report.from, &report.to);
                tracing::info!(%from, %to, fleet = report.fleet, "plugin rolled back");
                Answer::json(200, &report)
            }
            Err(e) => {
                tracing::warn!(error = %e, "plugin rollback refused");
                Answer::refusal(status_of(&e), e)
            }
        },
        ("/v1/status", "GET") => Answer::json(200, &api.status()),
        ("/healthz", "GET") => Answer::text(200, "ok"),
        ("/v1/plugins", _) => not_allowed(head, path, "GET, POST"),
        ("/v1/plugins/rollback", _) => not_allowed(head, path, "POST"),
        ("/v1/status" | "/healthz", _) => not_allowed(head, path, "GET"),
        _ => Answer::refusal(
            404,
            AdminError::BadRequest(format!("no such route: {path}")),
        ),
    })
}

/// `POST /v1/plugins`: the body is the component, `name` an optional query
/// parameter. An error is the connection's (nothing more to answer).
fn deploy(
    head: &Head,
    query: &str,
    body: &mut impl BufRead,
    mut stream: &TcpStream,
    api: &dyn PluginAdmin,
) -> io::Result<Answer> {
    let refuse = |status, why: String| Ok(Answer::refusal(status, AdminError::BadRequest(why)));
    let name = match query_param(query, "name") {
        Ok(name) => name,
        Err(why) => return refuse(400, why),
    };
    let length = match head.content_length {
        _ if head.chunked => return refuse(411, "send the component with a Content-Length".into()),
        None | Some(0) => return refuse(400, "the request body (the component) is empty".into()),
        Some(n) if n > MAX_PLUGIN_BYTES as u64 => {
            return refuse(
                413,
                format!("the component is {n} bytes, the limit is {MAX_PLUGIN_BYTES}"),
            );
        }
        Some(n) => n,
    };
    if head.expect_continue {
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let mut wasm = Vec::new();
    if let Err(e) = body.take(length).read_to_end(&mut wasm) {
        return refuse(400, format!("reading the body: {e}"));
    }
    if wasm.len() as u64 != length {
        return refuse(
            400,
            format!("the body ended after {} of {length} bytes", wasm.len()),
        );
    }
    Ok(match api.deploy(&wasm, name.as_deref()) {
        Ok(report) => {
            let (key, sha256) = (&report.deployed.key, &report.deployed.sha256);
            let (fleet, check_ms) = (report.fleet, report.check_ms);
            tracing::info!(%key, %sha256, fleet, check_ms, "plugin deployed");
            Answer::json(200, &report)
        }
        Err(e) => {
            tracing::warn!(error = %e, bytes = wasm.len(), "plugin deploy refused");
            Answer::refusal(status_of(&e), e)
        }
    })
}

fn not_allowed(head: &Head, path: &str, allow: &'static str) -> Answer {
    let why = format!(
        "{} is not allowed on {path} (allowed: {allow})",
        head.method
    );
    Answer {
        allow: Some(allow),
        ..Answer::refusal(405, AdminError::BadRequest(why))
    }
}

/// The request line and the headers this server looks at.
struct Head {
    method: String,
    target: String,
    content_length: Option<u64>,
    chunked: bool,
    expect_continue: bool,
}

/// The outer error: the connection failed (nothing to answer); the inner
/// one: the head is malformed (answered 400).
fn read_head(reader: &mut impl BufRead) -> io::Result<Result<Head, String>> {
    let mut limited = reader.take(MAX_HEAD_BYTES);
    let mut lines = Vec::new();
    loop {
        let mut line = Vec::new();
        if limited.read_until(b'\n', &mut line)? == 0 {
            return match lines.is_empty() {
                true => Err(io::ErrorKind::UnexpectedEof.into()),
                false => Ok(Err("the request head is cut off or too long".into())),
            };
        }
        let Ok(line) = String::from_utf8(line) else {
            return Ok(Err("the request head is not UTF-8".into()));
        };
        match line.trim_end_matches(['\r', '\n']) {
            "" if lines.is_empty() => {}
            "" => break,
            text => lines.push(text.to_owned()),
        }
    }
    let request_line: Vec<&str> = lines[0].split(' ').collect();
    let [method, target, version] = request_line.as_slice() else {
        return Ok(Err(format!("not an HTTP request line: {:?}", lines[0])));
    };
    if !version.starts_with("HTTP/1.") {
        return Ok(Err(format!("unsupported HTTP version {version:?}")));
    }
    let mut head = Head {
        method: (*method).to_owned(),
        target: (*target).to_owned(),
        content_length: None,
        chunked: false,
        expect_continue: false,
    };
    for line in &lines[1..] {
        let Some((name, value)) = line.split_once(':') else {
            return Ok(Err(format!("not a header: {line:?}")));
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        match name.as_str() {
            "content-length" => match value.parse() {
                Ok(n) => head.content_length = Some(n),
                Err(_) => return Ok(Err(format!("bad Content-Length {value:?}"))),
            },
            "transfer-encoding" => head.chunked = true,
            "expect" => head.expect_continue = value.eq_ignore_ascii_case("100-continue"),
            _ => {}
        }
    }
    Ok(Ok(head))
}

/// The URL-decoded value of `key` in a query string.
fn query_param(query: &str, key: &str) -> Result<Option<String>, String> {
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if percent_decode(k)? == key {
            return percent_decode(v).map(Some);
        }
    }
    Ok(None)
}
