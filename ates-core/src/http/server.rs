//! The layers every service's router gets, and serving with timeouts and
//! graceful shutdown.

use std::any::Any;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, Any as AnyOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, LicenseBuilder, OpenApi, OpenApiBuilder};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use super::health::{self, Readiness};
use super::{ApiError, Problem};
use crate::bus::backlog::{self, Sources};
use crate::metrics::Metrics;

/// HTTP settings shared by every service.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// `CORS_ALLOWED_ORIGINS`: comma-separated origins, `*` for any; empty
    /// (the default) allows no cross-origin calls.
    pub cors_allowed_origins: Vec<String>,
    /// `MAX_BODY_BYTES`: the largest request body accepted (default 64 KiB).
    pub max_body_bytes: usize,
    /// `IDEMPOTENCY_WINDOW_SECS`: how long an `Idempotency-Key` is
    /// remembered after its first request (default 24 h, at most 30 days).
    pub idempotency_window: Duration,
    /// `HEADER_READ_TIMEOUT_SECS`: how long a client may take to send a
    /// request's headers, from the first byte (or from the end of the
    /// previous request on a kept-alive connection); the connection is
    /// closed after it (default 10 s).
    pub header_read_timeout: Duration,
    /// `REQUEST_TIMEOUT_SECS`: how long a request may take once its headers
    /// are in, reading its body included; after it the request is stopped
    /// and answered 503 `timeout` (default 30 s).
    pub request_timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            cors_allowed_origins: Vec::new(),
            max_body_bytes: 64 * 1024,
            idempotency_window: crate::idempotency::DEFAULT_WINDOW,
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl HttpSettings {
    pub fn from_env() -> anyhow::Result<Self> {
        let mut settings = Self::default();
        if let Ok(origins) = std::env::var("CORS_ALLOWED_ORIGINS") {
            settings.cors_allowed_origins = origins
                .split(',')
                .map(str::trim)
                .filter(|origin| !origin.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Ok(limit) = std::env::var("MAX_BODY_BYTES") {
            settings.max_body_bytes = limit
                .parse()
                .map_err(|_| anyhow::anyhow!("MAX_BODY_BYTES must be a number of bytes"))?;
        }
        let window = crate::config::seconds(
            "IDEMPOTENCY_WINDOW_SECS",
            crate::idempotency::DEFAULT_WINDOW.as_secs(),
        )?;
        anyhow::ensure!(
            !window.is_zero() && window <= crate::idempotency::MAX_WINDOW,
            "IDEMPOTENCY_WINDOW_SECS must be 1 to {} seconds (30 days)",
            crate::idempotency::MAX_WINDOW.as_secs()
        );
        settings.idempotency_window = window;
        if let Some(timeout) = seconds_from_env("HEADER_READ_TIMEOUT_SECS")? {
            settings.header_read_timeout = timeout;
        }
        if let Some(timeout) = seconds_from_env("REQUEST_TIMEOUT_SECS")? {
            settings.request_timeout = timeout;
        }
        Ok(settings)
    }

    fn cors(&self) -> anyhow::Result<CorsLayer> {
        let layer = CorsLayer::new()
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static(crate::idempotency::key::HEADER),
            ])
            .expose_headers([
                header::RETRY_AFTER,
                header::WWW_AUTHENTICATE,
                header::LOCATION,
                HeaderName::from_static(crate::idempotency::REPLAYED),
            ])
            .max_age(Duration::from_secs(3600));
        if self.cors_allowed_origins.iter().any(|origin| origin == "*") {
            return Ok(layer.allow_origin(AnyOrigin));
        }
        let origins = self
            .cors_allowed_origins
            .iter()
            .map(|origin| {
                HeaderValue::from_str(origin).map_err(|_| {
                    anyhow::anyhow!("CORS_ALLOWED_ORIGINS has an invalid origin {origin:?}")
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(layer.allow_origin(AllowOrigin::list(origins)))
    }
}

/// A whole number of seconds, at least 1, from `name` if it is set.
fn seconds_from_env(name: &str) -> anyhow::Result<Option<Duration>> {
    let Ok(value) = std::env::var(name) else {
        return Ok(None);
    };
    match value.trim().parse::<u64>() {
        Ok(seconds) if seconds > 0 => Ok(Some(Duration::from_secs(seconds))),
        _ => anyhow::bail!("{name} must be a whole number of seconds, at least 1"),
    }
}

/// Adds the OpenAPI document (`/openapi.json`, with the bearer scheme) and
/// Swagger UI (`/swagger-ui`), JSON 404/405, then the shared layers
/// ([`apply_layers`]).
pub fn apply_conventions(
    router: Router,
    mut api: OpenApi,
    settings: &HttpSettings,
) -> anyhow::Result<Router> {
    document(&mut api);
    let router = router
        .merge(SwaggerUi::new("/swagger-ui").url("/openapi.json", api))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    apply_layers(router, settings)
}

/// The layers every aTES HTTP application gets, the services and the web
/// app server alike: body limit, the request timeout, panics as opaque
/// 500s, a span per request that continues the caller's trace and one log
/// line per request, CORS, `Cache-Control: no-store` unless
/// a handler chose a cache policy, and `X-Content-Type-Options: nosniff` on
/// every response.
pub fn apply_layers(router: Router, settings: &HttpSettings) -> anyhow::Result<Router> {
    let request_timeout = settings.request_timeout;
    let router = router
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            within(request_timeout, request, next)
        }))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::map_response(no_store_by_default))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(settings.cors()?)
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ));
    Ok(router)
}

/// The span a request runs in: a child of the caller's trace when the
/// request has a `traceparent` header, else the root of a new trace; its
/// `trace_id` shows on every log line inside it (`crate::trace`).
fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        uri = %request.uri(),
        version = ?request.version(),
        trace_id = tracing::field::Empty,
    );
    let traceparent = request
        .headers()
        .get(crate::trace::TRACEPARENT)
        .and_then(|value| value.to_str().ok());
    crate::trace::continue_trace(&span, traceparent);
    span
}

/// Runs the rest of the request for at most `timeout`; past it the
/// handler's future is dropped (a transaction it held rolls back, one it
/// had committed stays) and the client gets a 503 `timeout` problem.
async fn within(timeout: Duration, request: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(?timeout, "request stopped at the request timeout");
            ApiError::TimedOut(format!(
                "the request took longer than {} s and was stopped; it may or may not have taken effect",
                timeout.as_secs_f64()
            ))
            .into_response()
        }
    }
}

/// Every answer holds someone's data (tokens, accounts, balances): no
/// cache keeps it unless the handler set a policy of its own (the JWKS).
async fn no_store_by_default(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    }
    response
}

/// Completes a service's OpenAPI document the same way everywhere: the
/// `bearer` security scheme ("Authorize" in Swagger UI takes the access
/// token from `POST /v1/auth/login`), and the answers of the shared layers
/// on every operation (`contract`). `apply_conventions` calls it; so does
/// the export that writes `openapi/<service>.json`.
pub fn document(api: &mut OpenApi) {
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some("An access token from auth-api `POST /v1/auth/login`"))
                .build(),
        ),
    );
    super::contract::complete(api);
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint; see /swagger-ui".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed("this endpoint does not take that method; see /swagger-ui".into())
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    ApiError::Internal(anyhow::anyhow!("handler panicked: {message}")).into_response()
}

/// Serves `router` over HTTP/1.1 until `shutdown` is cancelled, then
/// stops accepting, closes idle connections and lets requests in flight
/// finish. A client gets `settings.header_read_timeout` to send each
/// request's headers; the connection is closed after it (axum's `serve`
/// sets no timer at all). HTTP/2 is not offered: telling the protocols
/// apart reads the first bytes with no timer. Handlers can read the TCP
/// peer's address (`ConnectInfo<SocketAddr>`), e.g. to throttle per client.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: &HttpSettings,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let mut connections = auto::Builder::new(TokioExecutor::new()).http1_only();
    connections
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout);
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let router = router.clone();
        let service = service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let connections = connections.clone();
        let watcher = graceful.watcher();
        let first_byte_timeout = settings.header_read_timeout;
        tokio::spawn(async move {
            // hyper's header timer starts at the first byte: a client that
            // connects and sends nothing gets the same time, then is closed.
            match tokio::time::timeout(first_byte_timeout, stream.peek(&mut [0; 1])).await {
                Ok(Ok(read)) if read > 0 => {}
                _ => return,
            }
            let connection = connections
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            if let Err(error) = watcher.watch(connection).await {
                tracing::debug!(%peer, error = %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Serves `router` and keeps the service's background tasks (the outbox
/// relay, consumers, schedulers) running until `shutdown`; then stops
/// accepting requests, lets the ones in flight and the background tasks
/// finish, and returns.
pub async fn serve_with_background(
    listener: TcpListener,
    router: Router,
    settings: &HttpSettings,
    background: Vec<tokio::task::JoinHandle<()>>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    tracing::info!(address = %listener.local_addr()?, "listening");
    let served = serve(listener, router, settings, shutdown.clone()).await;
    shutdown.cancel();
    for task in background {
        if let Err(error) = task.await {
            tracing::error!(%error, "a background task failed");
        }
    }
    Ok(served?)
}

/// What a service's OpenAPI document says of it: its title, what it is
/// for, and its tags (besides `health`, which every service has).
#[derive(Debug, Clone, Copy)]
pub struct ApiInfo {
    pub title: &'static str,
    pub description: &'static str,
    /// `(name, description)` of each tag its operations use.
    pub tags: &'static [(&'static str, &'static str)],
}

impl ApiInfo {
    /// The document's start: the info (version 1.0.0, the workspace's
    /// licence), the tags, and the `Problem` schema every error answers.
    fn openapi(&self) -> OpenApi {
        let tag = |(name, description): (&str, &str)| {
            TagBuilder::new()
                .name(name)
                .description(Some(description))
                .build()
        };
        let tags = self
            .tags
            .iter()
            .copied()
            .chain([("health", "Liveness and readiness")])
            .map(tag)
            .collect::<Vec<_>>();
        OpenApiBuilder::new()
            .info(
                InfoBuilder::new()
                    .title(self.title)
                    .description(Some(self.description))
                    .license(Some(
                        LicenseBuilder::new()
                            .name(env!("CARGO_PKG_LICENSE"))
                            .identifier(Some(env!("CARGO_PKG_LICENSE")))
                            .build(),
                    ))
                    .version("1.0.0"),
            )
            .components(Some(
                ComponentsBuilder::new().schema_from::<Problem>().build(),
            ))
            .tags(Some(tags))
            .build()
    }
}

/// The start of every service's routes: its OpenAPI info plus `/healthz`
/// and `/readyz`.
pub fn service_api<S>(info: ApiInfo) -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Readiness: axum::extract::FromRef<S>,
{
    OpenApiRouter::with_openapi(info.openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
}

/// A service's OpenAPI document as it serves it (`/openapi.json`).
pub fn openapi_of<S: Clone + Send + Sync + 'static>(api: OpenApiRouter<S>) -> OpenApi {
    let mut openapi = api.into_openapi();
    document(&mut openapi);
    openapi
}

/// A service's HTTP application: its routes with their state, the docs and
/// the shared conventions; with `observed`, also `/metrics` (sampled from
/// its sources) and every request counted and timed in its metrics.
pub fn service_app<S: Clone + Send + Sync + 'static>(
    api: OpenApiRouter<S>,
    state: S,
    settings: &HttpSettings,
    observed: Option<(&Metrics, Sources)>,
) -> anyhow::Result<Router> {
    let (router, openapi) = api.with_state(state).split_for_parts();
    let Some((metrics, sources)) = observed else {
        return apply_conventions(router, openapi, settings);
    };
    let scraped = metrics.clone();
    let router = router
        .route(
            "/metrics",
            axum::routing::get(move || {
                let (metrics, sources) = (scraped.clone(), sources.clone());
                async move {
                    backlog::sample(&metrics, &sources).await;
                    crate::metrics::exposition(metrics.render())
                }
            }),
        )
        .route_layer(middleware::from_fn(crate::metrics::note_route));
    let tracked = metrics.clone();
    Ok(
        apply_conventions(router, openapi, settings)?.layer(middleware::from_fn(
            move |request: Request, next: Next| {
                crate::metrics::track_requests(tracked.clone(), request, next)
            },
        )),
    )
}
