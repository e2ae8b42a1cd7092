//! web-server over HTTP without the services: the built app with its SPA
//! fallback and caching, `/config.json`, the security headers on every
//! answer, readiness, and the proxy against a stand-in service that echoes
//! what it received (headers in and out, traversal, a service down).

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;

use ates_core::testing::problem;
use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode as AxumStatus};
use axum::response::IntoResponse;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use web_server::config::UpstreamUrls;
use web_server::routes::CONTENT_SECURITY_POLICY;
use web_server::testing::{
    ASSET, ASSET_PATH, INDEX_HTML, WebApp, built_app, services_down, test_config,
};

/// Asserts the browser security headers and `nosniff` on `response`.
fn assert_security_headers(response: &reqwest::Response) {
    let headers = response.headers();
    let url = response.url().clone();
    assert_eq!(
        headers["content-security-policy"], CONTENT_SECURITY_POLICY,
        "{url}"
    );
    assert_eq!(headers["referrer-policy"], "no-referrer", "{url}");
    assert_eq!(headers["x-content-type-options"], "nosniff", "{url}");
    assert_eq!(headers["x-frame-options"], "DENY", "{url}");
}

/// A stand-in service: answers every request with what it received, and
/// with the headers a service may send back, plus one it must not.
async fn echo_service() -> String {
    async fn echo(request: Request) -> impl IntoResponse {
        let headers: serde_json::Map<String, Value> = request
            .headers()
            .iter()
            .map(|(name, value)| (name.to_string(), json!(value.to_str().unwrap())))
            .collect();
        let method = request.method().to_string();
        let path = request.uri().path().to_owned();
        let query = request.uri().query().map(str::to_owned);
        let body = axum::body::to_bytes(request.into_body(), 1 << 20)
            .await
            .unwrap();
        let mut answer_headers = HeaderMap::new();
        for (name, value) in [
            ("retry-after", "7"),
            ("cache-control", "private, max-age=5"),
            ("idempotency-replayed", "true"),
            ("location", "/v1/tasks/42"),
            ("etag", "\"v1\""),
            ("www-authenticate", "Bearer"),
            ("set-cookie", "leak=1"),
            ("x-internal", "secret"),
        ] {
            answer_headers.insert(name, HeaderValue::from_static(value));
        }
        (
            AxumStatus::ACCEPTED,
            answer_headers,
            Json(json!({
                "method": method,
                "path": path,
                "query": query,
                "headers": headers,
                "body": String::from_utf8_lossy(&body),
            })),
        )
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, axum::Router::new().fallback(echo))
            .await
            .unwrap();
    });
    format!("http://{address}")
}

/// web-server with the echoing stand-in as tasks-api, the rest down.
async fn with_echoing_tasks() -> (WebApp, tempfile::TempDir) {
    let dist = built_app();
    let upstreams = UpstreamUrls {
        tasks: echo_service().await,
        ..services_down()
    };
    (
        WebApp::spawn(test_config(dist.path(), upstreams)).await,
        dist,
    )
}

#[tokio::test]
async fn pages_fall_back_to_the_app_and_assets_are_cached_for_good() {
    let dist = built_app();
    let web = WebApp::spawn(test_config(dist.path(), services_down())).await;

    for page in [
        "/",
        "/tasks",
        "/tasks/0195-abc?status=open",
        "/index.html",
        "/session",
    ] {
        let response = web.get(page).await;
        assert_eq!(response.status(), StatusCode::OK, "{page}");
        assert_security_headers(&response);
        assert_eq!(response.headers()["cache-control"], "no-cache", "{page}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{page}"
        );
        assert_eq!(response.text().await.unwrap(), INDEX_HTML, "{page}");
    }
    let favicon = web.get("/favicon.svg").await;
    assert_eq!(favicon.status(), StatusCode::OK);
    assert_eq!(favicon.headers()["cache-control"], "no-cache");
    assert_eq!(favicon.text().await.unwrap(), "<svg/>");

    let asset = web.get(ASSET_PATH).await;
    assert_eq!(asset.status(), StatusCode::OK);
    assert_security_headers(&asset);
    assert_eq!(
        asset.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        asset.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert_eq!(asset.text().await.unwrap(), ASSET);

    for missing in [
        "/assets/app-000000.js",
        "/assets/",
        "/session/nope",
        "/api/",
    ] {
        let response = web.get(missing).await;
        assert_security_headers(&response);
        assert_eq!(response.headers()["cache-control"], "no-store", "{missing}");
        problem(response, StatusCode::NOT_FOUND).await;
    }
    let posted = web.client.post(web.url("/tasks")).send().await.unwrap();
    assert_security_headers(&posted);
    problem(posted, StatusCode::METHOD_NOT_ALLOWED).await;
}

#[tokio::test]
async fn an_app_not_built_yet_is_a_503_saying_how_to_build_it() {
    let empty = tempfile::tempdir().unwrap();
    let web = WebApp::spawn(test_config(empty.path(), services_down())).await;
    let response = web.get("/tasks").await;
    assert_security_headers(&response);
    assert!(response.headers().contains_key("retry-after"));
    let body = problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("npm --prefix web ci && npm --prefix web run build"),
        "{detail}"
    );
    assert_eq!(web.get("/healthz").await.status(), StatusCode::OK);
    let ready = problem(web.get("/readyz").await, StatusCode::SERVICE_UNAVAILABLE).await;
    let detail = ready["detail"].as_str().unwrap();
    for missing in [
        "index.html",
        "auth-api",
        "tasks-api",
        "accounting-api",
        "analytics-api",
    ] {
        assert!(detail.contains(missing), "{missing}: {detail}");
    }
}

#[tokio::test]
async fn config_json_tells_the_app_where_things_are() {
    let dist = built_app();
    let web = WebApp::spawn(test_config(dist.path(), services_down())).await;
    let response = web.get("/config.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_security_headers(&response);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let config: Value = response.json().await.unwrap();
    assert_eq!(
        config,
        json!({
            "api": {
                "auth": "/api/auth",
                "tasks": "/api/tasks",
                "accounting": "/api/accounting",
                "analytics": "/api/analytics"
            },
            "session": "/session",
            "business_timezone": "Europe/Moscow"
        })
    );
}

#[tokio::test]
async fn the_proxy_passes_on_only_the_allowed_headers_both_ways() {
    let (web, _dist) = with_echoing_tasks().await;
    let response = web
        .client
        .patch(web.url("/api/tasks/v1/tasks/42?status=open&page=2"))
        .header("authorization", "Bearer t0k3n")
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("idempotency-key", "k-1")
        .header("if-none-match", "\"v0\"")
        .header("cookie", "ates_refresh=never-forwarded")
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-other", "dropped")
        .body(r#"{"title":"Fix"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_security_headers(&response);
    let headers = response.headers().clone();
    assert_eq!(headers["retry-after"], "7");
    assert_eq!(headers["cache-control"], "private, max-age=5");
    assert_eq!(headers["idempotency-replayed"], "true");
    assert_eq!(
        headers["location"], "/api/tasks/v1/tasks/42",
        "under the proxy"
    );
    assert_eq!(headers["etag"], "\"v1\"");
    assert_eq!(headers["www-authenticate"], "Bearer");
    assert!(!headers.contains_key("set-cookie"), "{headers:?}");
    assert!(!headers.contains_key("x-internal"), "{headers:?}");

    let seen: Value = response.json().await.unwrap();
    assert_eq!(seen["method"], "PATCH");
    assert_eq!(seen["path"], "/v1/tasks/42");
    assert_eq!(seen["query"], "status=open&page=2");
    assert_eq!(seen["body"], r#"{"title":"Fix"}"#);
    let sent = seen["headers"].as_object().unwrap();
    assert_eq!(sent["authorization"], "Bearer t0k3n");
    assert_eq!(sent["content-type"], "application/json");
    assert_eq!(sent["accept"], "application/json");
    assert_eq!(sent["idempotency-key"], "k-1");
    assert_eq!(sent["if-none-match"], "\"v0\"");
    assert_eq!(
        sent["x-forwarded-for"], "127.0.0.1",
        "the peer, not the client's claim"
    );
    assert!(!sent.contains_key("cookie"), "{sent:?}");
    assert!(!sent.contains_key("x-other"), "{sent:?}");

    let oversized = web
        .client
        .post(web.url("/api/tasks/v1/tasks"))
        .header("content-type", "application/json")
        .body(vec![b' '; 32 * 1024])
        .send()
        .await
        .unwrap();
    assert_security_headers(&oversized);
    problem(oversized, StatusCode::PAYLOAD_TOO_LARGE).await;
}

#[tokio::test]
async fn the_proxy_refuses_traversal_unknown_services_and_says_when_a_service_is_down() {
    let (web, _dist) = with_echoing_tasks().await;

    for path in [
        "/api/tasks/..%2F..%2Fhealthz",
        "/api/tasks/v1/%2e%2e%2f%2e%2e/x",
    ] {
        let response = web.get(path).await;
        assert_security_headers(&response);
        problem(response, StatusCode::BAD_REQUEST).await;
    }
    // A literal `..` as sent by a client that does not normalize paths.
    let raw = raw_get(&web.address, "/api/tasks/../../etc/passwd").await;
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");

    problem(web.get("/api/nope/v1/x").await, StatusCode::NOT_FOUND).await;

    let down = web.get("/api/accounting/v1/balances/me").await;
    assert_security_headers(&down);
    assert!(down.headers().contains_key("retry-after"));
    let body = problem(down, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        body["detail"].as_str().unwrap().contains("accounting-api"),
        "{body}"
    );
}

/// A GET of `path` exactly as written, over a plain TCP connection.
async fn raw_get(address: &str, path: &str) -> String {
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}
