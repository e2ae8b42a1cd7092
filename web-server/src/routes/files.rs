//! The built browser app (`WEB_DIST`): hashed assets under `/assets/` with
//! a long immutable cache, other files as they are, and `index.html` for
//! every other page path (the app routes in the browser), revalidated on
//! each load; plus `/config.json`, what the app needs to know at run time.

use std::path::{Path, PathBuf};

use ates_core::http::ApiError;
use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::handler::HandlerWithoutStateExt;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

use crate::AppState;
use crate::service::Service;

/// Hashed assets never change under their name.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Pages and unhashed files: the browser asks again each time (a new
/// build is picked up at once; unchanged ones answer 304).
const REVALIDATE: &str = "no-cache";
/// The path prefixes the SPA fallback never answers.
const NOT_PAGES: [&str; 3] = ["/api/", "/session/", "/assets/"];

/// What the app reads at start: where each service is, where the session
/// endpoints are, and the business time zone.
#[derive(Debug, Serialize)]
pub struct AppConfig {
    pub api: ApiPaths,
    pub session: &'static str,
    pub business_timezone: String,
}

/// The proxy path of each service.
#[derive(Debug, Serialize)]
pub struct ApiPaths {
    pub auth: String,
    pub tasks: String,
    pub accounting: String,
    pub analytics: String,
}

/// `GET /config.json`, never cached (it follows the server's settings).
pub async fn config_json(State(state): State<AppState>) -> impl IntoResponse {
    let path = |service: Service| format!("/api/{}", service.segment());
    let config = AppConfig {
        api: ApiPaths {
            auth: path(Service::Auth),
            tasks: path(Service::Tasks),
            accounting: path(Service::Accounting),
            analytics: path(Service::Analytics),
        },
        session: "/session",
        business_timezone: state.config.business_timezone.name().to_owned(),
    };
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(config),
    )
}

/// `/assets/*`: the files of `<dist>/assets`, cached for a year; a missing
/// one is a 404 problem (never the app's page).
pub fn assets(dist: &Path) -> axum::routing::MethodRouter {
    let files = ServeDir::new(dist.join("assets"))
        .append_index_html_on_directories(false)
        .call_fallback_on_method_not_allowed(true)
        .fallback(missing_asset.into_service());
    axum::routing::any_service(files).layer(axum::middleware::map_response(cache_forever))
}

async fn missing_asset(method: Method) -> ApiError {
    if method == Method::GET || method == Method::HEAD {
        ApiError::NotFound("no such asset: the app may have been rebuilt; reload the page".into())
    } else {
        ApiError::MethodNotAllowed("assets are only read (GET)".into())
    }
}

async fn cache_forever(mut response: Response) -> Response {
    if response.status().is_success() {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    }
    response
}

/// Every other path: a file of `WEB_DIST` when there is one, else the
/// app's `index.html` (200), both revalidated on each load. Paths under
/// `/api/`, `/session/` and `/assets/` that no route took are 404s; an app
/// that is not built yet is a 503 saying how to build it.
pub async fn app(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    let path = request.uri().path();
    if NOT_PAGES.iter().any(|prefix| path.starts_with(prefix)) {
        return Err(ApiError::NotFound(format!("no such endpoint: {path}")));
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Err(ApiError::MethodNotAllowed(
            "pages are only read (GET); the services are under /api/<service>/".into(),
        ));
    }
    let dist = &state.config.web_dist;
    if !app_is_built(dist).await {
        return Err(ApiError::Unavailable(not_built_reason(dist)));
    }
    let files = ServeDir::new(dist)
        .append_index_html_on_directories(false)
        .fallback(ServeFile::new(index(dist)));
    let mut response = match files.oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(REVALIDATE));
    Ok(response)
}

fn index(dist: &Path) -> PathBuf {
    dist.join("index.html")
}

/// Whether `dist` holds a built app (its `index.html`). Asked on every
/// page load, so a build made while the server runs is served at once.
pub async fn app_is_built(dist: &Path) -> bool {
    tokio::fs::metadata(index(dist))
        .await
        .is_ok_and(|metadata| metadata.is_file())
}

/// Why there is no app, and how to build it.
pub fn not_built_reason(dist: &Path) -> String {
    format!(
        "the web app is not built ({} is missing): run `npm --prefix web ci && npm --prefix web run build`",
        index(dist).display()
    )
}
