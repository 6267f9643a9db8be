//! The admin API's HTTP server: a thread named `admin-api` running a
//! current-thread tokio runtime, which accepts connections and serves each
//! one concurrently (hyper HTTP/1.1 over TCP, or TLS (`tls`), one request per
//! connection, answered with `Connection: close`) through the axum routes
//! (`plugins_route`, `claims_route`, `probes`, `metrics_route`, `page`), guarded by `access`.
//!
//! Bounded so that no client holds it up: at most `max_connections` (default
//! [`MAX_CONNECTIONS`]) connections are served at once, and one more is
//! answered at once by `over_limit` (the probes get their answer, anything
//! else 503; never left waiting in the backlog); a
//! request head (TLS handshake included) must arrive within
//! `HEADER_READ_TIMEOUT`, so idle and slow-drip connections go soon; a body
//! within `upload`'s deadline, and a whole request be answered within
//! `REQUEST_TIMEOUT`. Dropping the server stops accepting, gives running
//! requests `STOP_GRACE` to finish and joins the thread.
//!
//! It refuses to start on an address that is not loopback without a token.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use hyper::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::access::AdminAccess;
use super::metrics_route::Observed;
use super::over_limit::answer_over_limit;
use super::tls::{TlsFiles, acceptor};
use super::{ClaimsAdmin, claims_route, metrics_route, page, plugins_route, probes, respond};
use crate::deploy::PluginAdmin;
use crate::health::Health;

/// Connections served at once by default; one more is answered 503 and closed.
pub const MAX_CONNECTIONS: usize = 256;
/// Admin calls running at once on the blocking pool (a deploy compiles wasm).
const BLOCKING_THREADS: usize = 16;
/// How long a client may take to send its request line and headers (and
/// finish its TLS handshake): an idle or slow-drip connection is closed then.
pub(super) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one request may take, from accepting it to the last byte of its
/// answer (a deploy uploads up to 64 MiB, then compiles and checks it).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// How long running requests may still take once the server is stopping.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// How long a stopping server waits for admin calls on the blocking pool
/// (a deploy cannot be interrupted; one still running is left to finish).
const BLOCKING_GRACE: Duration = Duration::from_secs(1);
/// The longest request head (request line and headers) read.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// How the admin API is served: who may call it, TLS, the connection limit.
#[derive(Clone)]
pub struct AdminOptions {
    pub access: AdminAccess,
    /// Serve HTTPS with this certificate and key; plain HTTP when `None`.
    pub tls: Option<TlsFiles>,
    pub max_connections: usize,
    /// What `/healthz` and `/readyz` answer from (always open, see `probes`).
    pub health: Health,
    /// What `/metrics` and the status page `/` read (open too); none: not served.
    pub observed: Option<Observed>,
    /// What `POST /v1/claims` hands the claims to; none: it answers 409.
    pub claims: Option<Arc<dyn ClaimsAdmin>>,
}

impl std::fmt::Debug for AdminOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminOptions")
            .field("access", &self.access)
            .field("tls", &self.tls)
            .field("max_connections", &self.max_connections)
            .field("claims", &self.claims.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for AdminOptions {
    fn default() -> Self {
        Self {
            access: AdminAccess::default(),
            tls: None,
            max_connections: MAX_CONNECTIONS,
            health: Health::default(),
            observed: None,
            claims: None,
        }
    }
}

/// Why the admin API did not start.
#[derive(Debug, thiserror::Error)]
pub enum AdminStartError {
    #[error("cannot serve the admin API on {addr}: {error} (set ENRICHER_ADMIN_BIND, or `off`)")]
    Bind { addr: SocketAddr, error: io::Error },
    #[error(
        "refusing to serve the admin API on {addr}, which is not a loopback address, without \
         a token: anyone who reaches it could deploy code. Set ENRICHER_ADMIN_TOKEN or \
         ENRICHER_ADMIN_TOKEN_FILE (admin.token-file), or bind to 127.0.0.1 (ENRICHER_ADMIN_BIND)"
    )]
    NoToken { addr: SocketAddr },
    #[error("admin API TLS (admin.tls-cert, admin.tls-key): {0}")]
    Tls(String),
}

/// Refuse an address that is not loopback without a token (checked by
/// [`AdminServer::start`]; callers may check before they start anything else).
pub fn check_bind(bind: SocketAddr, options: &AdminOptions) -> Result<(), AdminStartError> {
    if bind.ip().is_loopback() || options.access.has_token() {
        return Ok(());
    }
    Err(AdminStartError::NoToken { addr: bind })
}

/// A running admin API. Dropping it stops it.
pub struct AdminServer {
    addr: SocketAddr,
    /// Sent (or dropped) to stop the server.
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl AdminServer {
    /// Listen on `bind` (port 0 picks one, see [`Self::local_addr`]) and serve
    /// `api` on a thread of its own.
    pub fn start(
        bind: SocketAddr,
        api: Arc<dyn PluginAdmin>,
        options: AdminOptions,
    ) -> Result<AdminServer, AdminStartError> {
        check_bind(bind, &options)?;
        let tls = match &options.tls {
            Some(files) => Some(acceptor(files).map_err(AdminStartError::Tls)?),
            None => None,
        };
        let failed = |error| AdminStartError::Bind { addr: bind, error };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .thread_name("admin-api-blocking")
            .max_blocking_threads(BLOCKING_THREADS)
            .build()
            .map_err(failed)?;
        let listener = std::net::TcpListener::bind(bind).map_err(failed)?;
        listener.set_nonblocking(true).map_err(failed)?;
        let listener = {
            let _runtime = runtime.enter();
            TcpListener::from_std(listener).map_err(failed)?
        };
        let addr = listener.local_addr().map_err(failed)?;
        let (stop, stopped) = oneshot::channel();
        // The probes and the status page sit outside the access checks: they stay open.
        let lookup = options.observed.as_ref().map(|o| Arc::clone(&o.lookup));
        let mut access = options.access;
        access.bound_to(addr);
        let access = Arc::new(access);
        let probes = probes::router(options.health);
        let mut router = plugins_route::router(api, Arc::clone(&access), lookup)
            .merge(claims_route::router(options.claims, Arc::clone(&access)))
            .merge(probes.clone());
        if let Some(observed) = options.observed {
            router = router
                .merge(metrics_route::router(observed, access))
                .merge(page::router());
        }
        let limit = options.max_connections.max(1);
        // Its log lines (the audit log's too) go where the caller's go.
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let thread = std::thread::Builder::new()
            .name("admin-api".into())
            .spawn(move || {
                let _logs = tracing::dispatcher::set_default(&dispatch);
                runtime.block_on(serve(listener, router, probes, tls, limit, stopped));
                runtime.shutdown_timeout(BLOCKING_GRACE);
            })
            .map_err(failed)?;
        tracing::debug!(%addr, "admin API started");
        Ok(AdminServer {
            addr,
            stop: Some(stop),
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
        if let Some(stop) = self.stop.take() {
            // An error means the thread has already ended.
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the admin API thread panicked");
        }
        tracing::debug!(addr = %self.addr, "admin API stopped");
    }
}

/// Accept connections until `stop`, serving up to `limit` at once and
/// answering the others 503; then wait for running requests for at most
/// `STOP_GRACE`.
async fn serve(
    listener: TcpListener,
    router: Router,
    probes: Router,
    tls: Option<TlsAcceptor>,
    limit: usize,
    mut stop: oneshot::Receiver<()>,
) {
    let slots = Arc::new(Semaphore::new(limit));
    // Refusing takes a moment too: as many refusals as connections at most.
    let refusals = Arc::new(Semaphore::new(limit));
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(false)
        .title_case_headers(true);
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "admin API: accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::debug!(%peer, limit, "admin API: too many connections; probes only");
            if let Ok(refusal) = Arc::clone(&refusals).try_acquire_owned()
                && tls.is_none()
            {
                let probes = probes.clone();
                tokio::spawn(answer_over_limit(stream, probes, limit, refusal));
            }
            continue;
        };
        let connection = Connection {
            http: http.clone(),
            router: router.clone(),
            watcher: graceful.watcher(),
            tls: tls.clone(),
        };
        tokio::spawn(async move {
            match tokio::time::timeout(REQUEST_TIMEOUT, connection.serve(stream)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "admin API: connection failed"),
                Err(_) => tracing::debug!(%peer, "admin API: request timed out, connection closed"),
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(STOP_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("admin API: stopped with requests still running");
    }
}

/// What serving one accepted connection takes.
struct Connection {
    http: http1::Builder,
    router: Router,
    watcher: Watcher,
    tls: Option<TlsAcceptor>,
}

impl Connection {
    async fn serve(self, stream: TcpStream) -> Result<(), String> {
        let Some(tls) = self.tls.clone() else {
            return self.serve_io(TokioIo::new(stream)).await;
        };
        let handshake = tokio::time::timeout(HEADER_READ_TIMEOUT, tls.accept(stream));
        match handshake.await {
            Ok(Ok(stream)) => self.serve_io(TokioIo::new(stream)).await,
            Ok(Err(e)) => Err(format!("TLS handshake: {e}")),
            Err(_) => Err("TLS handshake timed out".to_owned()),
        }
    }

    async fn serve_io<I>(self, io: I) -> Result<(), String>
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let router = self.router;
        let service = service_fn(move |mut request: Request<Incoming>| {
            respond::trim_trailing_slash(&mut request);
            let (method, target) = (request.method().clone(), request.uri().clone());
            let answer = router.clone().oneshot(request);
            async move {
                let answer = answer.await;
                if let Ok(answer) = &answer {
                    let status = answer.status().as_u16();
                    tracing::debug!(%method, %target, status, "admin API request");
                }
                answer
            }
        });
        let connection = self.http.serve_connection(io, service);
        self.watcher
            .watch(connection)
            .await
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    use super::STOP_GRACE;
    use crate::admin::tests::start;

    #[test]
    fn stopping_waits_for_a_half_sent_request_no_longer_than_its_grace() {
        for sent in ["", "GET /v1/st"] {
            let (_fake, server, _client) = start();
            let mut client = TcpStream::connect(server.local_addr()).expect("connect");
            client.write_all(sent.as_bytes()).expect("send");
            std::thread::sleep(Duration::from_millis(200));
            let started = Instant::now();
            drop(server);
            let took = started.elapsed();
            let bound = STOP_GRACE + Duration::from_secs(1);
            assert!(took < bound, "{sent:?} sent: stopping took {took:?}");
        }
    }
}
