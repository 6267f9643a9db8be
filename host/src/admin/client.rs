//! The admin API's client, used by `enricher plugin ...`: one blocking
//! HTTP/1.1 request per call with `ureq` (no connection pool, no proxy), over
//! TLS when asked (trusting a given certificate), with the admin token as a
//! bearer token when it has one; its JSON answer decoded into the shared API
//! types and its failures sorted into [`ClientError`]s.

use std::io;
use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;
use ureq::http::Response;
use ureq::tls::{Certificate, RootCerts, TlsConfig};
use ureq::{Agent, Body, RequestBuilder, Timeout};

use super::tls::certificates;
use super::{CLAIMS_TYPES, COMPONENT_TYPES, ClaimsReport, ErrorBody};
use crate::claims_load::InputFormat;
use crate::deploy::signature::{SIGNATURE_HEADER, normalize_signature};
use crate::deploy::{AdminError, DeployReport, PluginStatus, RollbackReport, VersionInfo};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one read or write may wait: a deploy compiles and checks a
/// component before it answers.
const IO_TIMEOUT: Duration = Duration::from_secs(120);
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
    /// The signature to send is not one (nothing was sent).
    #[error("the signature: {0}")]
    BadSignature(String),
    /// The certificate to trust could not be read.
    #[error("admin API TLS: {0}")]
    Tls(String),
}

/// A client of one host's admin API.
#[derive(Debug, Clone)]
pub struct AdminClient {
    /// `host:port`, as connected to and sent in `Host`.
    addr: String,
    /// `http` or `https`.
    scheme: &'static str,
    agent: Agent,
    /// Sent as `Authorization: Bearer`.
    token: Option<String>,
}

impl AdminClient {
    /// `addr` is `host:port`, `http://host:port` or `https://host:port` (TLS
    /// trusting the usual public roots; see [`Self::trusting`]).
    pub fn new(addr: &str) -> Self {
        let addr = addr.trim();
        let (scheme, addr) = match addr.strip_prefix("https://") {
            Some(rest) => ("https", rest),
            None => ("http", addr.strip_prefix("http://").unwrap_or(addr)),
        };
        Self {
            addr: addr.trim_end_matches('/').to_owned(),
            scheme,
            agent: agent(TlsConfig::default()),
            token: None,
        }
    }

    /// Send `token` with every call.
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// Talk TLS, trusting only the certificates in the PEM file `cert` (the
    /// admin API's own, or the authority that signed it).
    pub fn trusting(mut self, cert: &Path) -> Result<Self, ClientError> {
        let roots: Vec<Certificate<'static>> = certificates(cert)
            .map_err(ClientError::Tls)?
            .iter()
            .map(|der| Certificate::from_der(der.as_ref()).to_owned())
            .collect();
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::new_with_certs(&roots))
            .build();
        self.scheme = "https";
        self.agent = agent(tls);
        Ok(self)
    }

    /// The `host:port` this client talks to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `POST /v1/plugins`: check a component and make it the active version.
    pub fn deploy(&self, wasm: &[u8], name: Option<&str>) -> Result<DeployReport, ClientError> {
        self.deploy_signed(wasm, name, None)
    }

    /// [`deploy`](Self::deploy) with the component's detached signature (the
    /// content of its `.sig` file), sent in the `X-Enricher-Signature` header.
    pub fn deploy_signed(
        &self,
        wasm: &[u8],
        name: Option<&str>,
        signature: Option<&[u8]>,
    ) -> Result<DeployReport, ClientError> {
        let path = "/v1/plugins";
        let mut request = self
            .authorized(self.agent.post(self.url(path)))
            .content_type(COMPONENT_TYPES[0])
            // The host may refuse a component (413) before it is sent.
            .header("Expect", "100-continue");
        if let Some(name) = name {
            request = request.query("name", name);
        }
        if let Some(signature) = signature {
            // A header holds text: the raw 64 bytes (`openssl pkeyutl`) go as base64.
            let text = normalize_signature(signature).ok_or_else(|| {
                ClientError::BadSignature("neither base64 text nor 64 raw bytes".into())
            })?;
            request = request.header(SIGNATURE_HEADER, &text);
        }
        self.answer("POST", path, request.send(wasm))
    }

    /// `POST /v1/claims`: `file` (a claims file's bytes, CSV or JSON lines as
    /// `format` says) applied on the host, or with `delete` its ids deleted.
    pub fn claims(
        &self,
        file: &[u8],
        format: InputFormat,
        delete: bool,
        skip_bad_rows: bool,
    ) -> Result<ClaimsReport, ClientError> {
        let path = "/v1/claims";
        let content_type = CLAIMS_TYPES
            .iter()
            .find(|(_, f)| *f == format)
            .map_or("text/csv", |(t, _)| *t);
        let mut request = self
            .authorized(self.agent.post(self.url(path)))
            .content_type(content_type)
            .header("Expect", "100-continue");
        if delete {
            request = request.query("delete", "true");
        }
        if skip_bad_rows {
            request = request.query("skip-bad-rows", "true");
        }
        self.answer("POST", path, request.send(file))
    }

    /// `GET /v1/plugins`: every version the host knows, newest first.
    pub fn list(&self) -> Result<Vec<VersionInfo>, ClientError> {
        let path = "/v1/plugins";
        self.answer(
            "GET",
            path,
            self.authorized(self.agent.get(self.url(path))).call(),
        )
    }

    /// `POST /v1/plugins/rollback`: back to the previous version.
    pub fn rollback(&self) -> Result<RollbackReport, ClientError> {
        let path = "/v1/plugins/rollback";
        let request = self.authorized(self.agent.post(self.url(path)));
        self.answer("POST", path, request.send_empty())
    }

    /// `GET /v1/status`: the host's plugin state.
    pub fn status(&self) -> Result<PluginStatus, ClientError> {
        let path = "/v1/status";
        self.answer(
            "GET",
            path,
            self.authorized(self.agent.get(self.url(path))).call(),
        )
    }

    fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.addr)
    }

    fn authorized<B>(&self, request: RequestBuilder<B>) -> RequestBuilder<B> {
        match &self.token {
            Some(token) => request.header("Authorization", format!("Bearer {token}")),
            None => request,
        }
    }

    /// A 2xx answer decoded as `T`, an error body as `Refused`.
    fn answer<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        sent: Result<Response<Body>, ureq::Error>,
    ) -> Result<T, ClientError> {
        let failed = |e| self.failure(method, path, e);
        let mut response = sent.map_err(failed)?;
        let status = response.status().as_u16();
        let body = response.body_mut().with_config().limit(MAX_ANSWER_BYTES);
        let answer = body.read_to_vec().map_err(failed)?;
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

    /// `Connect` when no connection was made, else `Protocol`.
    fn failure(&self, method: &str, path: &str, error: ureq::Error) -> ClientError {
        let source = match error {
            ureq::Error::Io(e) if is_connect_error(&e) => e,
            ureq::Error::Timeout(t @ (Timeout::Resolve | Timeout::Connect)) => {
                io::Error::new(io::ErrorKind::TimedOut, format!("timeout: {t}"))
            }
            ureq::Error::HostNotFound => io::Error::new(io::ErrorKind::NotFound, "host not found"),
            ureq::Error::ConnectionFailed => io::Error::other("connection failed"),
            ureq::Error::BadUri(why) => io::Error::new(io::ErrorKind::InvalidInput, why),
            e => return ClientError::Protocol(format!("{method} {path}: {e}")),
        };
        ClientError::Connect {
            addr: self.addr.clone(),
            source,
        }
    }
}

/// One request per connection, no proxy, no redirects, bounded waits.
fn agent(tls: TlsConfig) -> Agent {
    Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .max_redirects(0)
        .max_idle_connections(0)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_per_read(Some(IO_TIMEOUT))
        .timeout_per_write(Some(IO_TIMEOUT))
        .tls_config(tls)
        .build()
        .new_agent()
}

/// The errors of connecting: the address refused or could not be reached.
fn is_connect_error(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | HostUnreachable | NetworkUnreachable | NetworkDown | AddrNotAvailable
    )
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::*;

    /// A host that answers one request with `answer`, as is.
    fn canned(answer: &'static [u8]) -> AdminClient {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address").to_string();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accept");
            let (mut head, mut byte) = (Vec::new(), [0u8]);
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            stream.write_all(answer).expect("answer");
        });
        AdminClient::new(&addr)
    }

    #[test]
    fn answers_are_read_with_content_length_or_chunked() {
        let plain = canned(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]");
        assert_eq!(plain.list().expect("list"), []);
        let chunked = canned(
            b"HTTP/1.1 409 Conflict\r\ntransfer-encoding: chunked\r\n\r\n\
              1c;x=y\r\n{\"error\":{\"kind\":\"conflict\",\r\n\
              10\r\n\"message\":\"no\"}}\r\n0\r\n\r\n",
        );
        match chunked.list() {
            Err(ClientError::Refused(AdminError::Conflict(m))) => assert_eq!(m, "no"),
            other => panic!("expected a conflict, got {other:?}"),
        }
        let short = canned(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n[]");
        assert!(matches!(short.list(), Err(ClientError::Protocol(_))));
        let not_http = canned(b"SSH-2.0-OpenSSH\r\n\r\n");
        assert!(matches!(not_http.list(), Err(ClientError::Protocol(_))));
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
