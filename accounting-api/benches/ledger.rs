//! How fast accounting applies task events: a backlog of 50,000 events
//! (`BENCH_EVENTS`) waiting in the stream when it starts, then the lag from
//! `tasks.completed` published to its ledger entry being committed (seen
//! as the `accounting.transaction_applied` event it publishes after the
//! commit) at a steady 200 completions/s. SQLite, private nats-server.
//! `cargo bench -p accounting-api --bench ledger`.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::future::IntoFuture;
use std::time::{Duration, Instant};

use accounting_api::db::transaction;
use accounting_api::testing::AccountingApp;
use ates_core::bus::{EventBus, Naming};
use ates_core::testing::{TestBroker, percentile};
use chrono::Utc;
use event_schemas::tasks::{TaskAssignedV1, TaskCompletedV1, TaskCreatedV2, TaskStatus};
use event_schemas::{Envelope, EventPayload};
use futures::StreamExt;
use futures::future::join_all;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde::Serialize;
use uuid::Uuid;

fn payload<T: EventPayload + Serialize>(data: T) -> (String, bytes::Bytes) {
    let envelope = Envelope::new("tasks-api", data);
    let subject = Naming::event_subject(&envelope.event_name, envelope.event_version);
    (subject, serde_json::to_vec(&envelope).unwrap().into())
}

#[tokio::main]
async fn main() {
    let count: usize = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let broker = TestBroker::private().await;
    let bus = EventBus::connect(&broker.bus_config("bench"))
        .await
        .unwrap();
    bus.ensure_streams().await.unwrap();

    // The backlog: per task created, assigned, reassigned, completed.
    let workers: Vec<Uuid> = (0..20).map(|_| Uuid::now_v7()).collect();
    let mut messages = Vec::with_capacity(count);
    let now = Utc::now();
    for index in 0..count.div_ceil(4) {
        let task_id = Uuid::now_v7();
        let first = workers[index % workers.len()];
        let second = workers[(index + 7) % workers.len()];
        messages.push(payload(TaskCreatedV2 {
            task_id,
            title: format!("Task {index}"),
            jira_id: None,
            description: String::new(),
            status: TaskStatus::Open,
            assignee_id: first,
            created_at: now,
        }));
        messages.push(payload(TaskAssignedV1 {
            task_id,
            assignee_id: first,
            previous_assignee_id: None,
            assigned_at: now,
        }));
        messages.push(payload(TaskAssignedV1 {
            task_id,
            assignee_id: second,
            previous_assignee_id: Some(first),
            assigned_at: now,
        }));
        messages.push(payload(TaskCompletedV1 {
            task_id,
            assignee_id: second,
            completed_at: now,
        }));
    }
    messages.truncate(count);
    let money_events = messages
        .iter()
        .filter(|(subject, _)| !subject.starts_with("tasks.created"))
        .count() as u64;
    for chunk in messages.chunks(1000) {
        let mut acks = Vec::new();
        for (subject, body) in chunk {
            acks.push(
                bus.jetstream()
                    .publish(bus.naming().wire_subject(subject), body.clone())
                    .await
                    .unwrap(),
            );
        }
        for ack in join_all(acks.into_iter().map(IntoFuture::into_future)).await {
            ack.unwrap();
        }
    }

    let app = AccountingApp::spawn(&broker, "http://127.0.0.1:9/unused").await;
    let started = Instant::now();
    loop {
        let applied = transaction::Entity::find().count(&app.db).await.unwrap();
        if applied >= money_events {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let backlog_rate = count as f64 / started.elapsed().as_secs_f64();

    // Lag at a steady rate.
    let mut applied = bus
        .client()
        .subscribe(
            bus.naming()
                .wire_subject("accounting.transaction_applied.v1"),
        )
        .await
        .unwrap();
    let rate = 200u32;
    let total = 1000usize;
    let mut sent: HashMap<Uuid, Instant> = HashMap::new();
    let mut lags = Vec::with_capacity(total);
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate);
    let mut published = 0;
    while lags.len() < total {
        tokio::select! {
            _ = ticker.tick(), if published < total => {
                let task_id = Uuid::now_v7();
                let (subject, body) = payload(TaskCompletedV1 { task_id, assignee_id: workers[published % workers.len()], completed_at: Utc::now() });
                sent.insert(task_id, Instant::now());
                bus.jetstream().publish(bus.naming().wire_subject(&subject), body).await.unwrap().await.unwrap();
                published += 1;
            }
            Some(message) = applied.next() => {
                let event: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
                let task = event["data"]["task_id"].as_str().and_then(|id| Uuid::parse_str(id).ok());
                if let Some(at) = task.and_then(|task| sent.remove(&task)) {
                    lags.push(at.elapsed());
                }
            }
        }
    }
    println!("| measure (SQLite) | value |");
    println!("|---|---:|");
    println!("| backlog of {count} task events applied | {backlog_rate:.0} events/s |");
    println!(
        "| lag tasks.completed -> ledger entry committed, p50 ({rate}/s) | {:.1} ms |",
        percentile(&mut lags, 50).as_secs_f64() * 1000.0
    );
    println!(
        "| lag tasks.completed -> ledger entry committed, p99 ({rate}/s) | {:.1} ms |",
        percentile(&mut lags, 99).as_secs_f64() * 1000.0
    );
}
