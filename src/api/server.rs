//! Accepting connections: HTTP/1.1 with keep-alive, a deadline for a request's headers, and a
//! graceful shutdown that lets requests in flight finish. axum's own `serve` sets no timer, so a
//! client that opens a connection and never finishes its headers would hold it forever.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

/// How long a client has to send a request's headers, from the moment the server waits for
/// them (a new connection, or a kept-alive one after its last answer). Clients send a request's
/// headers at once, so 10 s is only reached by a connection left half open or idle; closing it
/// bounds how many of them can pile up. It is also how long an idle keep-alive connection
/// stays open: longer than Node's fetch keeps one (4 s), so that the client, not the server,
/// closes it, and a connection is not closed under a request being sent.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a request body may send nothing before it is answered with 408. A body comes
/// from a program on this machine: 30 s without a byte means the sender stalled, not that the
/// network is slow; a steady slow upload is never cut.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a shutdown waits for the requests in flight. A half-sent request would otherwise
/// keep Ctrl-C waiting for its timeout, and a streamed Worker response for ever; what is cut
/// then is only an answer, as every state change commits before it is answered.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The timeouts of the HTTP surface; tests shorten them so that they need not wait seconds.
#[derive(Debug, Clone, Copy)]
pub struct HttpTimeouts {
    pub header_read: Duration,
    pub body_idle: Duration,
}

impl Default for HttpTimeouts {
    fn default() -> Self {
        HttpTimeouts { header_read: HEADER_READ_TIMEOUT, body_idle: BODY_IDLE_TIMEOUT }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then waits for the connections to
/// finish the requests they are answering (idle ones close at once), for at most
/// [`SHUTDOWN_GRACE`].
pub async fn serve_router(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    wait_after_accept_error(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A header timeout or a client that went away ends only its own connection.
            if let Err(error) = connection.await {
                tracing::debug!("connection closed: {error}");
            }
        });
    }
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight after {} s were cut short by the shutdown", SHUTDOWN_GRACE.as_secs());
    }
}

/// A failed accept either concerns one connection that is gone already (go on at once) or the
/// process (too many open files: wait a moment, as a busy loop would not free any).
async fn wait_after_accept_error(error: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!("accepting a connection failed: {error}");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
