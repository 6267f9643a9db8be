//! The admin API's HTTP server: a thread named `admin-api` running a
//! current-thread tokio runtime, which accepts connections and serves each
//! one concurrently (hyper HTTP/1.1, one request per connection, answered
//! with `Connection: close`) through the axum routes of `routes`.
//!
//! Bounded so that no client holds it up: at most `MAX_CONNECTIONS`
//! connections at once (more wait in the listen backlog until one ends), a
//! request head must arrive within `HEADER_READ_TIMEOUT` and a whole request
//! be answered within `REQUEST_TIMEOUT`. Dropping the server stops accepting,
//! gives running requests `STOP_GRACE` to finish and joins the thread.

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
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tower::ServiceExt;

use super::metrics_route::Observed;
use super::{metrics_route, page, routes};
use crate::deploy::PluginAdmin;

/// Connections served at once; further ones wait to be accepted.
const MAX_CONNECTIONS: usize = 32;
/// How long a client may take to send its request line and headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
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
    pub fn start(bind: SocketAddr, api: Arc<dyn PluginAdmin>) -> io::Result<AdminServer> {
        Self::start_observed(bind, api, None)
    }

    /// [`Self::start`], also serving `/metrics` and the status page `/` over `observed`.
    pub fn start_observed(
        bind: SocketAddr,
        api: Arc<dyn PluginAdmin>,
        observed: Option<Observed>,
    ) -> io::Result<AdminServer> {
        let mut router = routes::router(api);
        if let Some(observed) = observed {
            router = router
                .merge(metrics_route::router(observed))
                .merge(page::router());
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .thread_name("admin-api-blocking")
            // One admin call per connection at most.
            .max_blocking_threads(MAX_CONNECTIONS)
            .build()?;
        let listener = std::net::TcpListener::bind(bind)?;
        listener.set_nonblocking(true)?;
        let listener = {
            let _runtime = runtime.enter();
            TcpListener::from_std(listener)?
        };
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("admin-api".into())
            .spawn(move || {
                runtime.block_on(serve(listener, router, stopped));
                runtime.shutdown_timeout(BLOCKING_GRACE);
            })?;
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

/// Accept and serve connections until `stop`, then wait for running requests
/// for at most `STOP_GRACE`.
async fn serve(listener: TcpListener, router: Router, mut stop: oneshot::Receiver<()>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
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
            accepted = accept(&listener, &slots) => accepted,
        };
        let (stream, peer, slot) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "admin API: accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let router = router.clone();
        let service = service_fn(move |mut request: Request<Incoming>| {
            routes::trim_trailing_slash(&mut request);
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
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            match tokio::time::timeout(REQUEST_TIMEOUT, connection).await {
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

/// The next connection, once fewer than `MAX_CONNECTIONS` are open: until
/// then, new ones wait in the listen backlog (their clients' connect or read
/// timeouts apply).
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> io::Result<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    let slot = Arc::clone(slots)
        .acquire_owned()
        .await
        .map_err(|_| io::Error::other("the connection limit was closed"))?;
    let (stream, peer) = listener.accept().await?;
    Ok((stream, peer, slot))
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    use super::STOP_GRACE;
    use crate::deploy::admin::tests::start;

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
