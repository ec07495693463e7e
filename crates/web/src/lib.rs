//! Rapport over HTTP: the JSON API under `/api/v1` (documented by the OpenAPI document it
//! generates at `/api/v1/openapi.json`), health checks, and the auth every endpoint checks.
//!
//! API boundary: only this crate knows HTTP. Handlers translate requests into store calls and
//! store errors into problem details; the rules themselves live in `rapport-core`.

pub mod api;
pub mod auth;
pub mod chat;
mod client;
pub mod extract;
pub mod problem;
pub mod ui;

pub use client::TrustedProxies;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use rapport_core::Millis;
use rapport_store::Store;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower_http::LatencyUnit;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

/// Largest request body accepted (a ticket with a long message and many fields fits easily).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub ui: Arc<ui::UiState>,
    /// The chat widget's sockets on this node.
    pub chat: Arc<chat::ChatHub>,
}

impl AppState {
    /// The state every handler shares; starts the live-update task for `store`.
    pub fn new(store: Arc<dyn Store>, config: ui::UiConfig) -> Self {
        let live = ui::Live::start(&store);
        let chat = chat::ChatHub::start(&store, &live);
        Self {
            chat,
            store,
            ui: Arc::new(ui::UiState {
                config,
                live,
                trusted_proxies: TrustedProxies::default(),
            }),
        }
    }

    /// Believes `X-Forwarded-For` from these proxies when counting clients for sign-in
    /// limits (see [`TrustedProxies`]).
    pub fn with_trusted_proxies(self, trusted_proxies: TrustedProxies) -> Self {
        Self {
            ui: Arc::new(ui::UiState {
                config: self.ui.config.clone(),
                live: self.ui.live.clone(),
                trusted_proxies,
            }),
            store: self.store,
            chat: self.chat,
        }
    }
}

/// The current time as the store keeps it.
pub fn now() -> Millis {
    Millis(jiff::Timestamp::now().as_millisecond())
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let (api, openapi) = api::routes().split_for_parts();
    // Rendered once; each request shares the same bytes.
    let openapi_json = axum::body::Bytes::from(openapi.to_pretty_json().unwrap_or_default());
    Router::new()
        .merge(api)
        .merge(ui::routes())
        .merge(api::phone::widget_routes())
        .merge(chat::routes())
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let doc = openapi_json.clone();
                async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        doc,
                    )
                }
            }),
        )
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Request lines at debug level (RAPPORT_LOG=info,tower_http=debug turns them on);
        // server errors are logged at error level whatever the setting.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::DEBUG))
                .on_response(
                    DefaultOnResponse::new()
                        .level(Level::DEBUG)
                        .latency_unit(LatencyUnit::Micros),
                ),
        )
        .with_state(state)
}

/// Serves until `shutdown` completes, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer address feeds the sign-in rate limits.
    let ui = state.ui.clone();
    let service = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await;
    ui.live.stop();
    served
}
