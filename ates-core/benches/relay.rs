//! Outbox relay throughput next to raw JetStream publishing, measured in
//! the same run against the same private `nats-server`.
//!
//! Raw: the async-nats JetStream client publishes N envelopes with message
//! ids, pipelined, and waits for every ack. Relay: the same N envelopes
//! are written to a SQLite outbox first (timed separately), then the relay
//! drains the backlog. `cargo bench -p ates-core --bench relay`
//! (`BENCH_EVENTS` overrides N = 20,000).

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use async_nats::jetstream::message::PublishMessage;
use ates_core::bus::{BusConfig, BusMigrator, EventBus, RelaySettings};
use ates_core::db;
use ates_core::testing::{NatsServer, TestDatabase};
use bytes::Bytes;
use chrono::Utc;
use event_schemas::Envelope;
use event_schemas::tasks::TaskCompletedV1;
use futures::future::join_all;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use sea_orm_migration::MigratorTrait;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn envelopes(count: usize) -> Vec<Envelope<TaskCompletedV1>> {
    (0..count)
        .map(|_| {
            Envelope::new(
                "bench",
                TaskCompletedV1 {
                    task_id: Uuid::new_v4(),
                    assignee_id: Uuid::new_v4(),
                    completed_at: Utc::now(),
                },
            )
        })
        .collect()
}

async fn stream_count(bus: &EventBus) -> u64 {
    let mut stream = bus
        .jetstream()
        .get_stream(bus.naming().domain_stream("tasks"))
        .await
        .expect("stream");
    stream.info().await.expect("info").state.messages
}

async fn raw_publish(bus: &EventBus, events: &[Envelope<TaskCompletedV1>]) -> f64 {
    let payloads: Vec<(String, Bytes)> = events
        .iter()
        .map(|event| {
            (
                event.event_id.to_string(),
                Bytes::from(serde_json::to_vec(event).expect("serializes")),
            )
        })
        .collect();
    let subject = bus.naming().wire_subject("tasks.completed.v1");
    let started = Instant::now();
    for chunk in payloads.chunks(1000) {
        let mut acks = Vec::with_capacity(chunk.len());
        for (id, payload) in chunk {
            let message = PublishMessage::build()
                .payload(payload.clone())
                .message_id(id);
            acks.push(
                bus.jetstream()
                    .send_publish(subject.clone(), message)
                    .await
                    .expect("publish"),
            );
        }
        for ack in join_all(acks.into_iter().map(IntoFuture::into_future)).await {
            ack.expect("ack");
        }
    }
    events.len() as f64 / started.elapsed().as_secs_f64()
}

async fn fill_outbox(
    bus: &EventBus,
    db: &DatabaseConnection,
    events: Vec<Envelope<TaskCompletedV1>>,
) -> f64 {
    let outbox = bus.outbox();
    let started = Instant::now();
    let count = events.len();
    let mut events = events.into_iter().peekable();
    while events.peek().is_some() {
        let txn = db::begin_write(db).await.expect("transaction");
        for event in events.by_ref().take(500) {
            outbox
                .add_envelope(&txn, &event)
                .await
                .expect("valid event");
        }
        txn.commit().await.expect("commit");
    }
    count as f64 / started.elapsed().as_secs_f64()
}

async fn pending(db: &DatabaseConnection) -> i64 {
    db.query_one_raw(Statement::from_string(
        db.get_database_backend(),
        "SELECT COUNT(*) AS n FROM outbox_events WHERE published_at IS NULL".to_owned(),
    ))
    .await
    .expect("query")
    .expect("row")
    .try_get::<i64>("", "n")
    .expect("count")
}

#[tokio::main]
async fn main() {
    let count: usize = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(20_000);
    let server = NatsServer::start().await;
    let config = |prefix: &str| BusConfig {
        nats_url: server.url(),
        subject_prefix: Some(prefix.to_owned()),
        service: "bench".into(),
    };

    let raw_bus = EventBus::connect(&config("raw")).await.expect("connect");
    raw_bus.ensure_streams().await.expect("streams");
    let raw_rate = raw_publish(&raw_bus, &envelopes(count)).await;
    assert_eq!(stream_count(&raw_bus).await, count as u64);

    let database = TestDatabase::create().await;
    let db = database.connect().await;
    BusMigrator::up(&db, None).await.expect("migrations");
    let relay_bus = EventBus::connect(&config("relay")).await.expect("connect");
    relay_bus.ensure_streams().await.expect("streams");
    let outbox_rate = fill_outbox(&relay_bus, &db, envelopes(count)).await;

    let shutdown = CancellationToken::new();
    let started = Instant::now();
    tokio::spawn(
        relay_bus
            .relay(db.clone(), RelaySettings::default())
            .run(shutdown.clone()),
    );
    while pending(&db).await > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let relay_rate = count as f64 / started.elapsed().as_secs_f64();
    shutdown.cancel();
    assert_eq!(stream_count(&relay_bus).await, count as u64);

    // Registry validation of one event, the cost every publish and every
    // receipt pays.
    let sample = serde_json::to_value(&envelopes(1)[0]).expect("serializes");
    let rounds = 200_000u32;
    let started = Instant::now();
    for _ in 0..rounds {
        event_schemas::validate("tasks.completed", 1, &sample).expect("valid");
    }
    let validation_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);

    println!(
        "| measure ({count} events, {} database) | value |",
        if database.is_postgres() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    println!("|---|---:|");
    println!("| raw JetStream publish (pipelined, acked) | {raw_rate:.0} events/s |");
    println!("| outbox write (validated, 500 per transaction) | {outbox_rate:.0} events/s |");
    println!("| outbox relay drain | {relay_rate:.0} events/s |");
    println!("| relay / raw | {:.0}% |", 100.0 * relay_rate / raw_rate);
    println!("| registry validation of one event | {validation_us:.2} µs |");
}
