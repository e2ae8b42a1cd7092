//! web-server's HTTP surface: the built app with its SPA fallback,
//! `/config.json`, the proxy to the services under `/api/<service>/`, the
//! cookie session under `/session/`, `/healthz` and `/readyz`, all behind
//! the shared layers and the browser security headers.

pub mod files;
pub mod health;
pub mod proxy;
pub mod session;

use ates_core::http::ApiError;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::routing::{any, get};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::AppState;

/// What the page may load and where it may connect: its own origin only
/// (the services are reached through `/api/`), no inline scripts or styles,
/// no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// The application: the routes, the shared layers (body limit, request
/// timeout, panics as 500s, one log line per request, `nosniff`,
/// `no-store` unless a route chose a cache policy) and, outermost so that
/// every answer gets them (files, proxied answers, errors), the security
/// headers.
pub fn router(state: AppState) -> anyhow::Result<Router> {
    let http = state.config.http.clone();
    let routes = Router::new()
        .route("/healthz", get(ates_core::http::health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/config.json", get(files::config_json))
        .route("/api/{*path}", any(proxy::forward))
        .nest("/session", session::router())
        .nest_service("/assets", files::assets(&state.config.web_dist))
        .fallback(files::app)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    let security_headers = [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    ];
    let mut app = ates_core::http::apply_layers(routes, &http)?;
    for (name, value) in security_headers {
        app = app.layer(SetResponseHeaderLayer::overriding(name, value));
    }
    Ok(app)
}

/// A 405 problem.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed("this path does not take that method".into())
}
