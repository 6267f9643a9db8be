//! The admin API's client, used by `enricher plugin ...`: one blocking HTTP/1.1
//! request per call over a `std::net::TcpStream` (`Connection: close`, the
//! answer read to EOF), its JSON answer decoded into the shared API types.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::{ErrorBody, percent_encode};
use crate::deploy::{AdminError, DeployReport, PluginStatus, RollbackReport, VersionInfo};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A deploy compiles and checks a component before it answers.
const READ_TIMEOUT: Duration = Duration::from_secs(120);
/// More than any answer of the API; a stream that goes on is not one.
const MAX_ANSWER_BYTES: u64 = 16 << 20;

/// Why a call to the admin API did not return its answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "cannot reach the admin API at {addr}: is `enricher run` running with its admin API \
         on {addr}? (ENRICHER_ADMIN_BIND / --admin)"
    )]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    /// The host answered with an error of the API (its JSON error body).
    #[error("refused: {0}")]
    Refused(AdminError),
    /// Anything else: a broken connection, a non-HTTP or non-JSON answer.
    #[error("admin API: {0}")]
    Protocol(String),
}

/// A client of one host's admin API.
#[derive(Debug, Clone)]
pub struct AdminClient {
    /// `host:port`, as connected to and sent in `Host`.
    addr: String,
}

impl AdminClient {
    /// `addr` is `host:port` or `http://host:port`.
    pub fn new(addr: &str) -> Self {
        let addr = addr.trim();
        let addr = addr.strip_prefix("http://").unwrap_or(addr);
        Self {
            addr: addr.trim_end_matches('/').to_owned(),
        }
    }

    /// The `host:port` this client talks to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `POST /v1/plugins`: check a component and make it the active version.
    pub fn deploy(&self, wasm: &[u8], name: Option<&str>) -> Result<DeployReport, ClientError> {
        let path = match name {
            Some(name) => format!("/v1/plugins?name={}", percent_encode(name)),
            None => "/v1/plugins".to_owned(),
        };
        self.call("POST", &path, wasm)
    }

    /// `GET /v1/plugins`: every version the host knows, newest first.
    pub fn list(&self) -> Result<Vec<VersionInfo>, ClientError> {
        self.call("GET", "/v1/plugins", &[])
    }

    /// `POST /v1/plugins/rollback`: back to the previous version.
    pub fn rollback(&self) -> Result<RollbackReport, ClientError> {
        self.call("POST", "/v1/plugins/rollback", &[])
    }

    /// `GET /v1/status`: the host's plugin state.
    pub fn status(&self) -> Result<PluginStatus, ClientError> {
        self.call("GET", "/v1/status", &[])
    }

    /// One request; a 2xx answer decoded as `T`, an error body as `Refused`.
    fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<T, ClientError> {
        let (status, answer) = self.exchange(method, path, body)?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&answer).map_err(|e| {
                ClientError::Protocol(format!("{method} {path}: unexpected answer: {e}"))
            });
        }
        match serde_json::from_slice::<ErrorBody>(&answer) {
            Ok(ErrorBody { error }) => Err(ClientError::Refused(error)),
            Err(_) => Err(ClientError::Protocol(format!(
                "{method} {path}: HTTP {status}: {}",
                String::from_utf8_lossy(&answer[..answer.len().min(200)]).trim()
            ))),
        }
    }

    /// Send the request and return the answer's status and (de-chunked) body.
    fn exchange(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), ClientError> {
        let mut stream = self.connect()?;
        let protocol = |e: std::io::Error| ClientError::Protocol(format!("{method} {path}: {e}"));
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
             Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        let sent = stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body))
            .and_then(|()| stream.flush());
        // A host that refuses the body (413) may answer and close before it is
        // all sent: its answer is still worth reading.
        let mut raw = Vec::new();
        let read = (&mut stream).take(MAX_ANSWER_BYTES).read_to_end(&mut raw);
        match (sent, read) {
            (_, Ok(_)) if !raw.is_empty() => {}
            (Err(e), _) | (Ok(()), Err(e)) => return Err(protocol(e)),
            (Ok(()), Ok(_)) => {
                return Err(ClientError::Protocol(format!(
                    "{method} {path}: the host closed the connection without an answer"
                )));
            }
        }
        parse_response(&raw).map_err(|why| ClientError::Protocol(format!("{method} {path}: {why}")))
    }

    fn connect(&self) -> Result<TcpStream, ClientError> {
        let connect_error = |source| ClientError::Connect {
            addr: self.addr.clone(),
            source,
        };
        let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
        for addr in self.addr.to_socket_addrs().map_err(connect_error)? {
            match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                Ok(stream) => {
                    let timeouts = stream
                        .set_read_timeout(Some(READ_TIMEOUT))
                        .and_then(|()| stream.set_write_timeout(Some(READ_TIMEOUT)));
                    timeouts.map_err(connect_error)?;
                    return Ok(stream);
                }
                Err(e) => last = e,
            }
        }
        Err(connect_error(last))
    }
}

/// The status and body of a whole HTTP/1.1 answer (`Content-Length`,
/// chunked, or up to EOF).
fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let head_end = find(raw, b"\r\n\r\n").ok_or("no end of the header in the answer")?;
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let rest = &raw[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = match status_line.split(' ').collect::<Vec<_>>().as_slice() {
        [version, code, ..] if version.starts_with("HTTP/1.") => code.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| format!("not an HTTP answer: {status_line:?}"))?;
    let (mut length, mut chunked) = (None, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| format!("bad Content-Length {value:?}"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    let body = match (chunked, length) {
        (true, _) => dechunk(rest)?,
        (false, Some(n)) => rest
            .get(..n)
            .ok_or("the answer is shorter than its Content-Length")?
            .to_vec(),
        (false, None) => rest.to_vec(),
    };
    Ok((status, body))
}

/// The body of a chunked answer (extensions and trailers ignored).
fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = find(rest, b"\r\n").ok_or("a chunk without its size line")?;
        let line = String::from_utf8_lossy(&rest[..line_end]);
        let hex = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(hex, 16).map_err(|_| format!("bad chunk size {hex:?}"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = rest.get(..size).ok_or("the answer ends inside a chunk")?;
        body.extend_from_slice(chunk);
        rest = rest
            .get(size..)
            .and_then(|r| r.strip_prefix(b"\r\n"))
            .ok_or("a chunk without its CRLF")?;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_with_content_length_or_chunked() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]";
        assert_eq!(parse_response(plain), Ok((200, b"[]".to_vec())));
        let chunked = b"HTTP/1.1 409 Conflict\r\ntransfer-encoding: chunked\r\n\r\n\
                        3;x=y\r\n{\"a\r\n2\r\n\":\r\n1\r\n1\r\n1\r\n}\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked), Ok((409, b"{\"a\":1}".to_vec())));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n[]").is_err());
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
    }

    #[test]
    fn addresses_may_carry_a_scheme() {
        assert_eq!(
            AdminClient::new("http://127.0.0.1:9464/").addr(),
            "127.0.0.1:9464"
        );
        assert_eq!(AdminClient::new(" localhost:1 ").addr(), "localhost:1");
    }
}
