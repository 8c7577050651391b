//! Request bodies that stop arriving: every body is read through [`StallGuard`], which fails
//! the read once the client has sent nothing for the body timeout. A request that promised a
//! body and never sends it is then answered with 408 instead of holding its connection and a
//! handler until the client gives up.

use std::error::Error;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// The error a stalled body read ends with; handlers find it in the chain of their read error.
#[derive(Debug, thiserror::Error)]
#[error("the request body stalled: nothing arrived for {} ms", .0.as_millis())]
pub struct BodyStalled(pub Duration);

/// Whether `error` (or an error it wraps) is a stalled body: axum wraps a body's error a few
/// times before a handler sees it.
pub fn stalled<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a BodyStalled> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(stalled) = error.downcast_ref::<BodyStalled>() {
            return Some(stalled);
        }
        current = error.source();
    }
    None
}

/// The middleware: every request's body goes through a [`StallGuard`].
pub(super) async fn guard_request_bodies(State(idle): State<Duration>, request: Request, next: Next) -> Response {
    next.run(request.map(|body| Body::new(StallGuard::new(body, idle)))).await
}

/// A body whose read fails after `idle` without a frame. The clock runs only while the reader
/// waits for the client, so a handler that is slow to start reading is not counted against it.
pub struct StallGuard {
    inner: Body,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    waiting: bool,
}

impl StallGuard {
    pub fn new(inner: Body, idle: Duration) -> Self {
        StallGuard { inner, idle, timer: Box::pin(tokio::time::sleep(idle)), waiting: false }
    }
}

impl http_body::Body for StallGuard {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.waiting = false;
                Poll::Ready(frame)
            }
            Poll::Pending => {
                if !this.waiting {
                    this.waiting = true;
                    let deadline = Instant::now() + this.idle;
                    this.timer.as_mut().reset(deadline);
                }
                match this.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyStalled(this.idle))))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    #[tokio::test]
    async fn a_body_that_sends_nothing_fails_with_stalled() {
        let (_sender, body) = channel_body();
        let idle = Duration::from_millis(20);
        let error =
            to_bytes(Body::new(StallGuard::new(body, idle)), usize::MAX).await.expect_err("a stalled body fails");
        assert_eq!(stalled(&error).map(|s| s.0), Some(idle), "{error}");
    }

    #[tokio::test]
    async fn a_body_that_arrives_is_read_whole() {
        let (sender, body) = channel_body();
        tokio::spawn(async move {
            for _ in 0..5 {
                let _ = sender.send(Ok(Bytes::from_static(b"chunk"))).await;
            }
        });
        let bytes = to_bytes(Body::new(StallGuard::new(body, Duration::from_secs(60))), usize::MAX)
            .await
            .expect("a body that arrives is read");
        assert_eq!(bytes.len(), 25);
    }

    /// A body fed by a channel: it ends when the sender is dropped.
    fn channel_body() -> (tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>, Body) {
        let (sender, receiver) = tokio::sync::mpsc::channel(1);
        let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|chunk| (chunk, receiver))
        });
        (sender, Body::from_stream(stream))
    }
}
