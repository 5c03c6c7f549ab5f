//! The accept loop: serves the router over HTTP/1 on connections the stub accepts itself, so a
//! handler can ask for its connection to be dropped without any HTTP answer.

use super::state::{ConnectionGuard, State};
use super::{control, inbox_html, mail_send};
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Notify};
use tower_service::Service;

/// Handed to handlers (as a request extension) to drop their connection.
#[derive(Clone, Default)]
pub(crate) struct ConnControl {
    abort: Arc<Notify>,
}

impl ConnControl {
    /// Drops the connection with a TCP reset; the response being built is never written.
    pub fn close_now(&self) {
        self.abort.notify_one();
    }
}

/// All routes of the stub.
pub(crate) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route(
            "/v3/mail/send",
            post(mail_send::mail_send).fallback(control::method_not_allowed),
        )
        .route("/__stub/emails", get(control::emails))
        .route("/__stub/attempts", get(control::attempts))
        .route(
            "/__stub/dead-letters",
            get(control::dead_letters).post(control::add_dead_letters),
        )
        .route(
            "/__stub/queue-tap",
            get(control::queue_tap).post(control::add_queue_tap),
        )
        .route("/__stub/logs", get(control::logs).post(control::add_logs))
        .route(
            "/__stub/faults",
            get(control::faults)
                .post(control::add_faults)
                .delete(control::clear_faults),
        )
        .route(
            "/__stub/chaos",
            get(control::chaos).post(control::set_chaos),
        )
        .route("/__stub/reset", post(control::reset))
        .route("/", get(inbox_html::inbox))
        .route("/emails/{file}", get(inbox_html::email_html))
        .fallback(control::not_found)
        // The mail-send handler reads its body itself (and answers 413 past 30 MB); this only
        // lifts axum's 2 MB default for the control routes.
        .layer(DefaultBodyLimit::max(super::sendgrid::MAX_BODY_BYTES))
        .with_state(state)
}

/// Accepts connections until `shutdown` fires (or its sender is dropped).
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    state: Arc<State>,
    mut shutdown: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let guard = state.connection_opened();
                    tokio::spawn(serve_connection(stream, router.clone(), guard));
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
        }
    }
}

/// Serves one connection; `_open` keeps it counted in [`State::open_connections`] until the
/// connection (with any request still in flight on it) is gone.
async fn serve_connection(stream: TcpStream, router: Router, _open: ConnectionGuard) {
    let _ = stream.set_nodelay(true);
    let control = ConnControl::default();
    let abort = control.abort.clone();
    let service = service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(control.clone());
        // A Router is always ready, so calling it without poll_ready is fine.
        let mut router = router.clone();
        async move { router.call(request).await }
    });
    let mut connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = &mut connection => {}
        _ = abort.notified() => {
            let stream = connection.into_parts().io.into_inner();
            // SO_LINGER 0: closing sends RST, so the client sees a reset, not a clean answer.
            let _ = stream.set_zero_linger();
            drop(stream);
        }
    }
}
