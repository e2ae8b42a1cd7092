//! The end-to-end pipeline: `POST /v1/tasks` -> tasks-api's outbox ->
//! JetStream -> accounting's ledger. Sustained tasks/s (HTTP at 50
//! concurrent requests until every task's fee is in the ledger) and the lag
//! from a task's creation to its fee being committed (seen as accounting's
//! `accounting.transaction_applied` event) at a steady 500 tasks/s; peak
//! resident memory of the process that runs all services.
//! `cargo bench -p accounting-api --bench pipeline` (`BENCH_TASKS`).

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use accounting_api::db::transaction;
use accounting_api::testing::AccountingApp;
use ates_core::bus::EventBus;
use auth_api::testing::TestApp as AuthApp;
use futures::StreamExt;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use tasks_api::testing::TasksApp;
use tokio::sync::{Mutex, Semaphore};
use uuid::Uuid;

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 - 1.0) * p).round() as usize]
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| {
                    line.split_whitespace()
                        .nth(1)
                        .and_then(|kib| kib.parse::<f64>().ok())
                })
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

#[tokio::main]
async fn main() {
    let tasks_total: usize = std::env::var("BENCH_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let auth = AuthApp::spawn().await;
    let tasks = TasksApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let accounting = AccountingApp::spawn(&auth.broker, &auth.jwks_url(), None).await;
    for index in 0..5 {
        let id = auth
            .account_with_role(&format!("worker{index}@popug.inc"), "worker")
            .await;
        tasks.wait_for_account(&id, true).await;
    }
    let token = Arc::new(auth.access_token("worker0@popug.inc").await);
    let client = reqwest::Client::new();
    let url = Arc::new(tasks.url("/v1/tasks"));
    let body = json!({"title": "Pipeline task", "description": "bench"});

    // Sustained: 50 requests in flight until all are created, then until
    // every fee is in accounting's ledger.
    let gate = Arc::new(Semaphore::new(50));
    let started = Instant::now();
    let mut requests = Vec::with_capacity(tasks_total);
    for _ in 0..tasks_total {
        let permit = gate.clone().acquire_owned().await.unwrap();
        let (client, url, token, body) = (client.clone(), url.clone(), token.clone(), body.clone());
        requests.push(tokio::spawn(async move {
            let response = client
                .post(url.as_str())
                .bearer_auth(token.as_str())
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
            drop(permit);
        }));
    }
    for request in requests {
        request.await.unwrap();
    }
    let http_elapsed = started.elapsed();
    while transaction::Entity::find()
        .count(&accounting.db)
        .await
        .unwrap()
        < tasks_total as u64
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pipeline_elapsed = started.elapsed();

    // Lag at a steady rate.
    let bus = EventBus::connect(&auth.broker.bus_config("pipeline-bench"))
        .await
        .unwrap();
    let mut applied = bus
        .client()
        .subscribe(
            bus.naming()
                .wire_subject("accounting.transaction_applied.v1"),
        )
        .await
        .unwrap();
    let rate = 500u32;
    let steady = 2000usize;
    let sent: Arc<Mutex<HashMap<Uuid, Instant>>> = Arc::default();
    let mut arrived: HashMap<Uuid, Instant> = HashMap::new();
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate);
    let mut check = tokio::time::interval(Duration::from_millis(100));
    let mut launched = 0;
    let mut senders = Vec::new();
    loop {
        tokio::select! {
            _ = ticker.tick(), if launched < steady => {
                launched += 1;
                let (client, url, token, body, sent) = (client.clone(), url.clone(), token.clone(), body.clone(), sent.clone());
                senders.push(tokio::spawn(async move {
                    let at = Instant::now();
                    let task: Value = client.post(url.as_str()).bearer_auth(token.as_str()).json(&body).send().await.unwrap().json().await.unwrap();
                    sent.lock().await.insert(Uuid::parse_str(task["id"].as_str().unwrap()).unwrap(), at);
                }));
            }
            Some(message) = applied.next() => {
                let event: Value = serde_json::from_slice(&message.payload).unwrap();
                if let Some(task) = event["data"]["task_id"].as_str().and_then(|id| Uuid::parse_str(id).ok()) {
                    arrived.entry(task).or_insert_with(Instant::now);
                }
            }
            _ = check.tick() => {
                let sent = sent.lock().await;
                if launched == steady && sent.len() == steady && sent.keys().all(|task| arrived.contains_key(task)) {
                    break;
                }
            }
        }
    }
    let sent = sent.lock().await;
    let mut lags: Vec<Duration> = sent
        .iter()
        .map(|(task, at)| arrived[task].saturating_duration_since(*at))
        .collect();
    println!("| measure (SQLite, all services in one process) | value |");
    println!("|---|---:|");
    println!(
        "| POST /v1/tasks, 50 in flight ({tasks_total} tasks) | {:.0} tasks/s |",
        tasks_total as f64 / http_elapsed.as_secs_f64()
    );
    println!(
        "| pipeline HTTP -> outbox -> JetStream -> ledger, sustained | {:.0} tasks/s |",
        tasks_total as f64 / pipeline_elapsed.as_secs_f64()
    );
    println!(
        "| lag task created -> fee committed, p50 at {rate}/s | {:.1} ms |",
        percentile(&mut lags, 0.5).as_secs_f64() * 1000.0
    );
    println!(
        "| lag task created -> fee committed, p99 at {rate}/s | {:.1} ms |",
        percentile(&mut lags, 0.99).as_secs_f64() * 1000.0
    );
    println!(
        "| peak RSS of the process (auth + tasks + accounting + test client) | {:.0} MiB |",
        peak_rss_mib()
    );
}
