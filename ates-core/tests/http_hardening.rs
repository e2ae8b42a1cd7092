//! The shared HTTP conventions against a real server on 127.0.0.1:0: JSON
//! bodies answered 400/413/415/422 by what is wrong with them, the
//! header-read and request timeouts, graceful shutdown, the bearer scheme
//! in any case, and the headers every response carries.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use ates_core::auth::bearer_token;
use ates_core::http::{HttpSettings, ValidatedJson, apply_conventions, serve};
use axum::Router;
use axum::routing::{get, post};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use validator::Validate;

#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
struct Greeting {
    #[validate(length(min = 1, max = 20))]
    name: String,
}

async fn greet(ValidatedJson(greeting): ValidatedJson<Greeting>) -> String {
    format!("hello {}", greeting.name)
}

/// A handler as slow as the test asks (`/slow/<ms>`).
async fn slow(axum::extract::Path(millis): axum::extract::Path<u64>) -> &'static str {
    tokio::time::sleep(Duration::from_millis(millis)).await;
    "done"
}

struct Server {
    address: String,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
    client: reqwest::Client,
}

impl Server {
    async fn start(settings: HttpSettings) -> Self {
        let router = Router::new()
            .route("/greet", post(greet))
            .route("/slow/{millis}", get(slow));
        let app =
            apply_conventions(router, utoipa::openapi::OpenApi::default(), &settings).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { serve(listener, app, &settings, shutdown).await }
        });
        Self {
            address,
            shutdown,
            task,
            client: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    async fn greet(&self, content_type: Option<&str>, body: &'static str) -> reqwest::Response {
        let mut request = self.client.post(self.url("/greet")).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send().await.unwrap()
    }
}

fn settings() -> HttpSettings {
    HttpSettings {
        max_body_bytes: 1024,
        header_read_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_millis(500),
        ..HttpSettings::default()
    }
}

async fn problem_type(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status().as_u16(), status, "status");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    body["type"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn json_bodies_are_told_apart_by_what_is_wrong_with_them() {
    let server = Server::start(settings()).await;
    let json = Some("application/json");

    let ok = server
        .greet(
            Some("application/json; charset=utf-8"),
            r#"{"name":"kesha"}"#,
        )
        .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "hello kesha");

    for truncated in ["[1,2", r#"{"name":"kesha""#, "", "{} x", "nul"] {
        let kind = problem_type(server.greet(json, truncated).await, 400).await;
        assert!(kind.ends_with("/bad-request"), "{truncated:?}: {kind}");
    }
    for wrong_shape in [
        "[1,2]",
        r#"{"name":5}"#,
        "{}",
        r#"{"name":"kesha","admin":true}"#,
        r#"{"name":""}"#,
    ] {
        let kind = problem_type(server.greet(json, wrong_shape).await, 422).await;
        assert!(kind.ends_with("/validation"), "{wrong_shape:?}: {kind}");
    }
    let oversized: &'static str = Box::leak(format!(r#"{{"name":"{}"}}"#, "a".repeat(2000)).into());
    let kind = problem_type(server.greet(json, oversized).await, 413).await;
    assert!(kind.ends_with("/payload-too-large"));
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let kind = problem_type(server.greet(content_type, r#"{"name":"kesha"}"#).await, 415).await;
        assert!(
            kind.ends_with("/unsupported-media-type"),
            "{content_type:?}"
        );
    }
}

#[tokio::test]
async fn every_response_says_nosniff_and_no_store() {
    let server = Server::start(settings()).await;
    let ok = server
        .greet(Some("application/json"), r#"{"name":"a"}"#)
        .await;
    let missing = server
        .client
        .get(server.url("/nowhere"))
        .send()
        .await
        .unwrap();
    let refused = server.greet(None, "").await;
    let docs = server
        .client
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    for response in [ok, missing, refused, docs] {
        let headers = response.headers();
        assert_eq!(
            headers["x-content-type-options"],
            "nosniff",
            "{}",
            response.url()
        );
        assert_eq!(headers["cache-control"], "no-store", "{}", response.url());
        assert_eq!(headers["pragma"], "no-cache", "{}", response.url());
    }
}

#[tokio::test]
async fn a_request_past_the_request_timeout_is_a_503_problem_and_others_go_on() {
    let server = Server::start(settings()).await;
    let slow = server.client.get(server.url("/slow/5000")).send();
    let quick = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        server
            .client
            .get(server.url("/slow/1"))
            .send()
            .await
            .unwrap()
    };
    let started = Instant::now();
    let (slow, quick) = tokio::join!(slow, quick);
    assert_eq!(quick.status(), 200, "a quick request is served meanwhile");
    let slow = slow.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stopped at the timeout"
    );
    assert_eq!(slow.headers()["retry-after"], "1");
    let kind = problem_type(slow, 503).await;
    assert_eq!(kind, "https://ates.popug.inc/problems/timeout");
}

#[tokio::test]
async fn a_client_that_stalls_in_its_headers_is_cut_off_and_others_are_served() {
    let server = Server::start(settings()).await;
    let mut stalled = TcpStream::connect(&server.address).await.unwrap();
    stalled
        .write_all(b"GET /slow/1 HTTP/1.1\r\nHost: a")
        .await
        .unwrap();
    let mut silent = TcpStream::connect(&server.address).await.unwrap();
    let mut kept_alive = TcpStream::connect(&server.address).await.unwrap();
    kept_alive
        .write_all(b"GET /slow/1 HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0; 12];
    kept_alive.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");

    let served = server
        .client
        .get(server.url("/slow/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);

    for (what, stream) in [
        ("stalled", &mut stalled),
        ("silent", &mut silent),
        ("kept-alive", &mut kept_alive),
    ] {
        let started = Instant::now();
        let mut buffer = Vec::new();
        // The server closes the connection (end of stream or a reset): the
        // read ends, well before the upper bound.
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buffer))
            .await
            .unwrap_or_else(|_| panic!("the {what} connection is closed within the timeout"));
        let _ = read;
        assert!(started.elapsed() < Duration::from_secs(3));
        if what != "kept-alive" {
            assert!(
                !String::from_utf8_lossy(&buffer).contains("200 OK"),
                "no request was served on the {what} connection"
            );
        }
    }
}

#[tokio::test]
async fn shutdown_lets_the_request_in_flight_finish() {
    let server = Server::start(HttpSettings {
        request_timeout: Duration::from_secs(10),
        ..settings()
    })
    .await;
    let in_flight = tokio::spawn({
        let request = server.client.get(server.url("/slow/700"));
        async move { request.send().await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.shutdown.cancel();
    let answer = in_flight.await.unwrap().unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "done");
    tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .expect("the server stops once drained")
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(&server.address).await.is_err(),
        "no new connections after shutdown"
    );
}

#[test]
fn the_bearer_scheme_is_matched_in_any_case() {
    for value in ["Bearer abc", "bearer abc", "BEARER abc", "BeArEr   abc "] {
        assert_eq!(bearer_token(value), Some("abc"), "{value:?}");
    }
    for value in ["Basic abc", "Bearer", "Bearer ", "Bearerabc", "abc"] {
        assert_eq!(bearer_token(value), None, "{value:?}");
    }
}
