//! Exporting traces over OTLP (HTTP with protobuf): a request's spans reach
//! a collector, under the trace id the caller sent. The collector is a
//! small OTLP receiver the test starts. One test in this binary: the first
//! initialisation of telemetry in a process decides where spans go.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use ates_core::testing::eventually;
use auth_api::testing::TestApp as AuthApp;
use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::routing::post;
use tasks_api::testing::TasksApp;
use uuid::Uuid;

/// What the receiver got: each export's body, as sent.
type Received = Arc<Mutex<Vec<Bytes>>>;

/// An OTLP/HTTP receiver on a free port: `POST /v1/traces` keeps the body
/// and answers an empty `ExportTraceServiceResponse`.
async fn otlp_receiver() -> (String, Received) {
    let received = Received::default();
    let kept = received.clone();
    let app = Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push(body);
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/x-protobuf")],
                    Bytes::new(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (address, received)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requests_spans_are_exported_over_otlp_under_the_callers_trace() {
    let (collector, received) = otlp_receiver().await;
    ates_core::telemetry::init_for_tests_exporting_to(&collector);
    let auth = AuthApp::spawn().await;
    let tasks = TasksApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let manager = auth.popug("boss@popug.inc", "manager").await;
    let worker = auth.popug("kesha@popug.inc", "worker").await;
    tasks.wait_for_account(&worker.id, true).await;
    tasks.wait_for_role(&manager.id, "manager").await;

    let trace = Uuid::new_v4();
    let traceparent = format!("00-{}-00f067aa0ba902b7-01", trace.simple());
    let response = tasks
        .client
        .post(tasks.url("/v1/tasks"))
        .bearer_auth(&manager.token)
        .header("traceparent", traceparent)
        .json(&serde_json::json!({"title": "Exported", "description": "traced"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);

    // The batch exporter sends on its own thread; a flush sends what is
    // left. OTLP carries the trace id as its 16 bytes.
    eventually(
        std::time::Duration::from_secs(20),
        "a span of the caller's trace at the collector",
        || async {
            tokio::task::spawn_blocking(ates_core::telemetry::flush)
                .await
                .unwrap();
            let bodies = received.lock().unwrap().clone();
            bodies
                .iter()
                .any(|body| {
                    contains(body, trace.as_bytes())
                        && contains(body, b"request")
                        && contains(body, b"ates-tests")
                })
                .then_some(())
        },
    )
    .await;
}
