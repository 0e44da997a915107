//! The server loop: accepts connections and serves the router on each, with the read
//! time-outs `axum::serve` lacks (a client that dribbles its headers would hold a socket
//! forever), and a graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Time-outs of the connection layer (the request body's is [`super::HttpConfig`]'s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// How long a client has to send a request's headers, from the connection's start or the
    /// previous response.
    pub header_read_timeout: Duration,
}

impl ServeConfig {
    /// The time-outs when nothing is configured: the one copy that both `Default` and the
    /// command line's defaults (`cli::ServeArgs`) read.
    pub const DEFAULTS: ServeConfig = ServeConfig {
        header_read_timeout: Duration::from_secs(10),
    };
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig::DEFAULTS
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish (WebSocket connections included) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let (stop, stopping) = watch::channel(false);
    let connections = TaskTracker::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        tracing::trace!(%peer, "connection accepted");
        let connection = connection(
            builder.clone(),
            stream,
            router.clone(),
            config.header_read_timeout,
            stopping.clone(),
        );
        connections.spawn(connection);
    }
    drop(listener);
    // Every connection finishes its in-flight requests, then closes.
    let _ = stop.send(true);
    connections.close();
    connections.wait().await;
}

/// One connection, served until it closes or the server stops.
async fn connection(
    builder: auto::Builder<TokioExecutor>,
    stream: TcpStream,
    router: Router,
    header_read_timeout: Duration,
    mut stopping: watch::Receiver<bool>,
) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(error = %error, "cannot set TCP_NODELAY");
    }
    // hyper's header time-out starts once it knows the protocol: a client that sends nothing,
    // or dribbles the HTTP/2 preface, would never reach it. Until the first request arrives,
    // the header time-out bounds the connection as a whole.
    let requested = Arc::new(AtomicBool::new(false));
    let seen = requested.clone();
    let service = TowerToHyperService::new(router.map_request(move |request| {
        seen.store(true, Ordering::Relaxed);
        request
    }));
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    let first_request = tokio::time::sleep(header_read_timeout);
    let mut first_request = std::pin::pin!(first_request);
    let mut waiting_for_first = true;
    let mut shutting_down = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(error = %error, "connection ended with an error");
                }
                return;
            }
            () = &mut first_request, if waiting_for_first => {
                if !requested.load(Ordering::Relaxed) {
                    tracing::debug!("connection closed: no request within the header time-out");
                    return;
                }
                waiting_for_first = false;
            }
            changed = stopping.changed(), if !shutting_down => {
                shutting_down = true;
                if changed.is_ok() {
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Connection-level errors (the peer gave up) are routine; others (out of file descriptors)
/// would repeat at once, so the loop waits a moment before accepting again.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %error, "accept failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
