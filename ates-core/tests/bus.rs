//! The event bus against a real JetStream server and a real database:
//! outbox through an outage, idempotent consumers, validation before
//! publishing, retries, dead letters and their replay.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use ates_core::bus::consumer::Replayed;
use ates_core::bus::dead_letter::Settlement;
use ates_core::bus::{
    BusMigrator, ConsumerSettings, EventBus, EventHandler, HandlerError, IncomingEvent,
    OutboxError, RelaySettings, consumer, dead_letter,
};
use ates_core::metrics::RelayMetrics;
use ates_core::testing::{TestBroker, TestDatabase, count, eventually};
use ates_core::unit_of_work::UnitOfWork;
use bytes::Bytes;
use chrono::Utc;
use event_schemas::tasks::{TaskCompletedV1, TaskCreatedV2};
use event_schemas::{Envelope, EventPayload, SchemaError};
use futures::StreamExt;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use sea_orm_migration::MigratorTrait;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

/// Tasks whose completion the test handler refuses or fails on.
const REJECTED_TASK: Uuid = Uuid::from_u128(0xdead);
const ALWAYS_FAILING_TASK: Uuid = Uuid::from_u128(0xfa11);
const FLAKY_TASK: Uuid = Uuid::from_u128(0xf1a4);

/// Records every applied event in `applied_events`, so a test can count
/// effects in the same database the consumer writes to.
struct Recorder {
    reject: AtomicBool,
    /// Attempts at each batch that fail as if another transaction had
    /// deadlocked them.
    contended: u32,
    /// Attempts at each batch as a whole, by the batch's first event.
    batch_attempts: Mutex<BTreeMap<Uuid, u32>>,
}

impl Recorder {
    fn new() -> Arc<Self> {
        Self::contended(0)
    }

    /// A recorder whose first `attempts` at each batch meet contention.
    fn contended(attempts: u32) -> Arc<Self> {
        Arc::new(Self {
            reject: AtomicBool::new(true),
            contended: attempts,
            batch_attempts: Mutex::default(),
        })
    }

    /// How many times each batch was attempted as a whole.
    fn attempts_per_batch(&self) -> Vec<u32> {
        self.batch_attempts
            .lock()
            .expect("attempts")
            .values()
            .copied()
            .collect()
    }
}

impl EventHandler for Recorder {
    fn subscriptions(&self) -> Vec<(&'static str, u32)> {
        vec![(TaskCompletedV1::NAME, TaskCompletedV1::VERSION)]
    }

    async fn handle(&self, txn: &UnitOfWork, event: &IncomingEvent) -> Result<(), HandlerError> {
        let completed = event.decode::<TaskCompletedV1>()?;
        let task = completed.data.task_id;
        if task == REJECTED_TASK && self.reject.load(Ordering::SeqCst) {
            return Err(HandlerError::Rejected(
                "this task cannot be completed".into(),
            ));
        }
        if task == ALWAYS_FAILING_TASK || (task == FLAKY_TASK && event.delivered < 3) {
            return Err(HandlerError::Transient(format!(
                "busy (delivery {})",
                event.delivered
            )));
        }
        txn.execute_raw(Statement::from_sql_and_values(
            txn.get_database_backend(),
            match txn.get_database_backend() {
                sea_orm::DbBackend::Postgres => {
                    "INSERT INTO applied_events (event_id, delivered) VALUES ($1, $2)"
                }
                _ => "INSERT INTO applied_events (event_id, delivered) VALUES (?, ?)",
            },
            [
                event.event_id.to_string().into(),
                i64::from(event.delivered).into(),
            ],
        ))
        .await?;
        Ok(())
    }

    async fn handle_batch(
        &self,
        work: &UnitOfWork,
        events: &[&IncomingEvent],
    ) -> Result<(), HandlerError> {
        let attempt = {
            let mut attempts = self.batch_attempts.lock().expect("attempts");
            let attempt = attempts.entry(events[0].event_id).or_default();
            *attempt += 1;
            *attempt
        };
        let contended = attempt <= self.contended;
        for event in events {
            self.handle(work, event).await?;
        }
        if contended {
            // After the writes, as a deadlock undoes them.
            return Err(HandlerError::Contended("deadlock detected".into()));
        }
        Ok(())
    }
}

struct Harness {
    broker: TestBroker,
    _database: TestDatabase,
    db: DatabaseConnection,
    bus: EventBus,
    /// The relay's counters (its failed rounds).
    relay_metrics: RelayMetrics,
    shutdown: CancellationToken,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Harness {
    async fn new(broker: TestBroker) -> Self {
        ates_core::telemetry::init_for_tests();
        let database = TestDatabase::create().await;
        let db = database.connect().await;
        BusMigrator::up(&db, None)
            .await
            .expect("bus migrations run");
        db.execute_unprepared("CREATE TABLE applied_events (event_id VARCHAR(64) NOT NULL, delivered BIGINT NOT NULL)")
            .await
            .expect("test table");
        // The relay's events carry the bus's service as producer: the
        // producer of the tasks domain, as consumers check.
        let bus = EventBus::connect(&broker.bus_config("tasks-api"))
            .await
            .expect("bus connects");
        Self {
            broker,
            _database: database,
            db,
            bus,
            relay_metrics: RelayMetrics::default(),
            shutdown: CancellationToken::new(),
        }
    }

    fn start_relay(&self) {
        self.start_relay_with(RelaySettings::default());
    }

    /// The relay with fast retries and `settings`' retention and pruning.
    fn start_relay_with(&self, settings: RelaySettings) {
        let relay = self
            .bus
            .relay(
                self.db.clone(),
                RelaySettings {
                    retry_base: Duration::from_millis(50),
                    retry_max: Duration::from_millis(500),
                    ..settings
                },
            )
            .with_metrics(self.relay_metrics.clone());
        tokio::spawn(relay.run(self.shutdown.clone()));
    }

    fn start_consumer(&self, handler: Arc<Recorder>, max_deliver: u32) {
        let settings = ConsumerSettings {
            max_deliver,
            retry_base: Duration::from_millis(50),
            retry_max: Duration::from_millis(200),
            ..ConsumerSettings::new("bus-test")
        };
        tokio::spawn(consumer::run(
            self.bus.clone(),
            self.db.clone(),
            handler,
            settings,
            self.shutdown.clone(),
        ));
    }

    /// Stores one completion in the outbox, the way a command does.
    async fn complete_through_outbox(&self, task_id: Uuid) -> Envelope<TaskCompletedV1> {
        let work = UnitOfWork::begin(&self.db, &self.bus.outbox())
            .await
            .expect("transaction");
        let envelope = work
            .add_event(completion(task_id))
            .await
            .expect("a valid event is accepted");
        work.commit().await.expect("commit");
        envelope
    }

    /// Publishes raw bytes straight to the stream, bypassing the outbox
    /// (how a broken or newer producer would look to a consumer).
    async fn publish_raw(&self, subject: &str, payload: Vec<u8>, headers: HeaderMap) {
        self.bus.ensure_streams().await.expect("streams");
        self.bus
            .jetstream()
            .publish_with_headers(
                self.bus.naming().wire_subject(subject),
                headers,
                Bytes::from(payload),
            )
            .await
            .expect("publish")
            .await
            .expect("ack");
    }

    async fn publish_envelope<T: EventPayload>(&self, envelope: &Envelope<T>) {
        let subject = format!("{}.v{}", envelope.event_name, envelope.event_version);
        self.publish_raw(
            &subject,
            serde_json::to_vec(envelope).expect("serializes"),
            HeaderMap::new(),
        )
        .await;
    }

    async fn applied(&self, event_id: Uuid) -> Vec<i64> {
        let rows = self
            .db
            .query_all_raw(Statement::from_string(
                self.db.get_database_backend(),
                format!("SELECT delivered FROM applied_events WHERE event_id = '{event_id}'"),
            ))
            .await
            .expect("query");
        rows.iter()
            .map(|row| row.try_get::<i64>("", "delivered").expect("delivered"))
            .collect()
    }

    async fn pending_outbox_rows(&self) -> i64 {
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                self.db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM outbox_events WHERE published_at IS NULL".to_owned(),
            ))
            .await
            .expect("query")
            .expect("a row");
        row.try_get::<i64>("", "n").expect("count")
    }

    async fn stream_messages(&self, domain: &str) -> u64 {
        let mut stream = self
            .bus
            .jetstream()
            .get_stream(self.bus.naming().domain_stream(domain))
            .await
            .expect("stream exists");
        stream.info().await.expect("stream info").state.messages
    }

    async fn dead_letters(&self) -> Vec<dead_letter::StoredDeadLetter> {
        dead_letter::list(&self.bus, "bus-test")
            .await
            .expect("dead letters")
    }
}

fn completion(task_id: Uuid) -> TaskCompletedV1 {
    TaskCompletedV1 {
        task_id,
        assignee_id: Uuid::new_v4(),
        completed_at: Utc::now(),
    }
}

#[tokio::test]
async fn an_event_stored_while_nats_is_down_arrives_once_when_it_is_back() {
    let mut broker = TestBroker::private().await;
    broker.server().stop().await;
    let mut harness = Harness::new(broker).await;
    harness.start_relay();

    let envelope = harness.complete_through_outbox(Uuid::new_v4()).await;
    // The marker: two more failed rounds, so at least one of them began
    // after the event was stored (the one under way may have begun before).
    let failed_before = harness.relay_metrics.failures.get();
    eventually(WAIT, "two more failed relay rounds", || async {
        (harness.relay_metrics.failures.get() >= failed_before + 2).then_some(())
    })
    .await;
    assert_eq!(
        harness.pending_outbox_rows().await,
        1,
        "the event waits in the outbox"
    );

    harness.broker.server().resume().await;
    harness.start_consumer(Recorder::new(), 5);

    eventually(WAIT, "the event to be applied", || async {
        (harness.applied(envelope.event_id).await.len() == 1).then_some(())
    })
    .await;
    eventually(WAIT, "the outbox to drain", || async {
        (harness.pending_outbox_rows().await == 0).then_some(())
    })
    .await;
    assert_eq!(
        harness.stream_messages("tasks").await,
        1,
        "published exactly once"
    );
    // The marker: an event published after it on the same stream; once the
    // consumer applied it, a second delivery of the first would have been
    // applied before.
    let marker = harness.complete_through_outbox(Uuid::new_v4()).await;
    eventually(WAIT, "the marker to be applied", || async {
        (harness.applied(marker.event_id).await.len() == 1).then_some(())
    })
    .await;
    assert_eq!(harness.applied(envelope.event_id).await.len(), 1);
}

#[tokio::test]
async fn the_relay_publishes_in_outbox_order_with_the_event_id_as_message_id() {
    let harness = Harness::new(TestBroker::start().await).await;
    let mut expected = Vec::new();
    for _ in 0..50 {
        expected.push(
            harness
                .complete_through_outbox(Uuid::new_v4())
                .await
                .event_id,
        );
    }
    harness.start_relay();
    eventually(WAIT, "the outbox to drain", || async {
        (harness.pending_outbox_rows().await == 0).then_some(())
    })
    .await;

    let stream = harness
        .bus
        .jetstream()
        .get_stream(harness.bus.naming().domain_stream("tasks"))
        .await
        .expect("stream");
    let reader = stream
        .create_consumer(pull::Config {
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .expect("reader");
    let mut messages = reader
        .fetch()
        .max_messages(expected.len())
        .expires(Duration::from_secs(5))
        .messages()
        .await
        .expect("fetch");
    let mut seen = Vec::new();
    while let Some(message) = messages.next().await {
        let message = message.expect("message");
        let message_id = message
            .headers
            .as_ref()
            .and_then(|headers| headers.get(async_nats::header::NATS_MESSAGE_ID))
            .map(|value| value.as_str().to_owned())
            .expect("Nats-Msg-Id header");
        let body: serde_json::Value = serde_json::from_slice(&message.payload).expect("JSON");
        assert_eq!(body["event_id"], json!(message_id));
        assert!(message.subject.as_str().ends_with("tasks.completed.v1"));
        seen.push(Uuid::parse_str(&message_id).expect("uuid"));
    }
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn an_event_delivered_twice_is_applied_once() {
    let harness = Harness::new(TestBroker::start().await).await;
    let envelope = Envelope::new("tasks-api", completion(Uuid::new_v4()));
    harness.publish_envelope(&envelope).await;
    harness.publish_envelope(&envelope).await;
    harness.start_consumer(Recorder::new(), 5);

    eventually(WAIT, "the event to be applied", || async {
        (!harness.applied(envelope.event_id).await.is_empty()).then_some(())
    })
    .await;
    // A later copy too: still one effect.
    harness.publish_envelope(&envelope).await;
    let marker = Envelope::new("tasks-api", completion(Uuid::new_v4()));
    harness.publish_envelope(&marker).await;
    eventually(WAIT, "the marker after the copies", || async {
        (!harness.applied(marker.event_id).await.is_empty()).then_some(())
    })
    .await;
    assert_eq!(harness.stream_messages("tasks").await, 4);
    assert_eq!(harness.applied(envelope.event_id).await.len(), 1);
}

#[tokio::test]
async fn an_invalid_event_is_refused_and_never_reaches_the_stream() {
    let harness = Harness::new(TestBroker::start().await).await;
    harness.start_relay();
    let work = UnitOfWork::begin(&harness.db, &harness.bus.outbox())
        .await
        .expect("transaction");
    let invalid = TaskCreatedV2 {
        title: "[POPUG-1] Fix the nest".into(),
        ..TaskCreatedV2::example()
    };
    let error = work
        .add_event(invalid)
        .await
        .expect_err("an invalid event is refused");
    work.commit().await.expect("commit");
    match error {
        OutboxError::Invalid(SchemaError::Invalid { violations, .. }) => {
            assert_eq!(violations.len(), 1);
            assert_eq!(violations[0].path, "/data/title");
        }
        other => panic!("expected a schema violation, got {other}"),
    }

    let valid = harness.complete_through_outbox(Uuid::new_v4()).await;
    harness.start_consumer(Recorder::new(), 5);
    eventually(WAIT, "the valid event to be applied", || async {
        (!harness.applied(valid.event_id).await.is_empty()).then_some(())
    })
    .await;
    // The relay marks a row published after its ack, which may come after
    // the consumer has applied the event.
    eventually(WAIT, "the outbox to be drained", || async {
        (harness.pending_outbox_rows().await == 0).then_some(())
    })
    .await;
    assert_eq!(
        harness.stream_messages("tasks").await,
        1,
        "only the valid event"
    );
}

#[tokio::test]
async fn poison_events_go_to_dead_letters_and_the_consumer_keeps_going() {
    let harness = Harness::new(TestBroker::start().await).await;
    let mut headers = HeaderMap::new();
    headers.insert("X-Trace-Id", "trace-42");
    harness
        .publish_raw("tasks.completed.v1", b"{not json".to_vec(), headers)
        .await;
    let mut missing_field =
        serde_json::to_value(Envelope::new("tasks-api", completion(Uuid::new_v4())))
            .expect("serializes");
    missing_field["data"]
        .as_object_mut()
        .expect("data")
        .remove("assignee_id");
    harness
        .publish_raw(
            "tasks.completed.v1",
            missing_field.to_string().into_bytes(),
            HeaderMap::new(),
        )
        .await;
    let mut future_version =
        serde_json::to_value(Envelope::new("tasks-api", completion(Uuid::new_v4())))
            .expect("serializes");
    future_version["event_version"] = json!(9);
    harness
        .publish_raw(
            "tasks.completed.v9",
            future_version.to_string().into_bytes(),
            HeaderMap::new(),
        )
        .await;
    // Arrives in the same batch as the refused event: the batch is undone
    // and applied event by event, so this one is applied exactly once.
    let before = Envelope::new("tasks-api", completion(Uuid::new_v4()));
    harness.publish_envelope(&before).await;
    let refused = Envelope::new("tasks-api", completion(REJECTED_TASK));
    harness.publish_envelope(&refused).await;
    // An event this consumer does not subscribe to is skipped, not dead.
    harness
        .publish_envelope(&Envelope::new("tasks-api", TaskCreatedV2::example()))
        .await;
    let good = Envelope::new("tasks-api", completion(Uuid::new_v4()));
    harness.publish_envelope(&good).await;

    harness.start_consumer(Recorder::new(), 5);
    eventually(WAIT, "the good event after the poison ones", || async {
        (!harness.applied(good.event_id).await.is_empty()).then_some(())
    })
    .await;
    let letters = eventually(WAIT, "four dead letters", || async {
        let letters = harness.dead_letters().await;
        (letters.len() == 4).then_some(letters)
    })
    .await;

    assert!(
        letters[0].reason.contains("not JSON"),
        "{}",
        letters[0].reason
    );
    assert_eq!(
        letters[0]
            .headers
            .get("X-Trace-Id")
            .map(|value| value.as_str()),
        Some("trace-42"),
        "original headers are kept"
    );
    assert_eq!(letters[0].original_subject, "tasks.completed.v1");
    assert_eq!(letters[0].consumer, "bus-test");
    assert!(
        letters[1].reason.contains("/data") && letters[1].reason.contains("assignee_id"),
        "{}",
        letters[1].reason
    );
    assert!(
        letters[2].reason.contains("unknown event version"),
        "{}",
        letters[2].reason
    );
    assert_eq!(letters[2].original_subject, "tasks.completed.v9");
    assert!(
        letters[3].reason.contains("this task cannot be completed"),
        "{}",
        letters[3].reason
    );
    assert!(harness.applied(refused.event_id).await.is_empty());
    assert_eq!(harness.applied(before.event_id).await.len(), 1);
    assert_eq!(harness.applied(good.event_id).await.len(), 1);
}

#[tokio::test]
async fn a_transient_failure_is_retried_with_backoff_until_it_succeeds() {
    let harness = Harness::new(TestBroker::start().await).await;
    let flaky = Envelope::new("tasks-api", completion(FLAKY_TASK));
    harness.publish_envelope(&flaky).await;
    harness.start_consumer(Recorder::new(), 5);
    let deliveries = eventually(WAIT, "the flaky event to be applied", || async {
        let applied = harness.applied(flaky.event_id).await;
        (!applied.is_empty()).then_some(applied)
    })
    .await;
    assert_eq!(deliveries, vec![3], "applied once, on the third delivery");
    assert!(harness.dead_letters().await.is_empty());
}

/// Twenty completions published before the consumer starts (so they
/// arrive together), applied by a recorder whose first `contended` attempts
/// at each batch meet contention. Checks that each event was applied once,
/// on its first delivery (nothing was redelivered), and returns how many
/// times each batch was attempted as a whole.
async fn attempts_at_contended_batches(contended: u32) -> Vec<u32> {
    let harness = Harness::new(TestBroker::start().await).await;
    let mut events = Vec::new();
    for _ in 0..20 {
        let envelope = Envelope::new("tasks-api", completion(Uuid::new_v4()));
        harness.publish_envelope(&envelope).await;
        events.push(envelope);
    }
    let recorder = Recorder::contended(contended);
    harness.start_consumer(recorder.clone(), 5);
    for event in &events {
        let applied = eventually(WAIT, "each event of the batch applied", || async {
            let applied = harness.applied(event.event_id).await;
            (!applied.is_empty()).then_some(applied)
        })
        .await;
        assert_eq!(applied, vec![1], "applied once, on its first delivery");
    }
    let attempts = recorder.attempts_per_batch();
    assert!(!attempts.is_empty(), "the events came as batches");
    attempts
}

#[tokio::test]
async fn a_batch_another_transaction_deadlocked_is_applied_again_whole_without_redelivery() {
    let attempts = attempts_at_contended_batches(2).await;
    assert_eq!(
        attempts,
        vec![3; attempts.len()],
        "each batch: two contended attempts, then the one that committed"
    );
}

#[tokio::test]
async fn a_batch_that_stays_contended_is_applied_event_by_event_after_four_attempts() {
    let attempts = attempts_at_contended_batches(u32::MAX).await;
    assert_eq!(attempts, vec![4; attempts.len()], "each batch four times");
}

#[tokio::test]
async fn an_event_that_keeps_failing_is_dead_lettered_after_max_deliveries() {
    let harness = Harness::new(TestBroker::start().await).await;
    let hopeless = Envelope::new("tasks-api", completion(ALWAYS_FAILING_TASK));
    harness.publish_envelope(&hopeless).await;
    let next = Envelope::new("tasks-api", completion(Uuid::new_v4()));
    harness.publish_envelope(&next).await;
    harness.start_consumer(Recorder::new(), 3);

    let letters = eventually(WAIT, "the dead letter", || async {
        let letters = harness.dead_letters().await;
        (!letters.is_empty()).then_some(letters)
    })
    .await;
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0].reason.contains("gave up after 3 deliveries"),
        "{}",
        letters[0].reason
    );
    assert_eq!(letters[0].delivered, 3);
    eventually(WAIT, "the next event", || async {
        (!harness.applied(next.event_id).await.is_empty()).then_some(())
    })
    .await;
    assert!(harness.applied(hopeless.event_id).await.is_empty());
}

#[tokio::test]
async fn a_dead_letter_waits_with_its_reason_and_a_replay_after_the_fix_applies_it_once() {
    let harness = Harness::new(TestBroker::start().await).await;
    let refused = Envelope::new("tasks-api", completion(REJECTED_TASK));
    harness.publish_envelope(&refused).await;
    let forged = Envelope::new("analytics-api", completion(Uuid::new_v4()));
    harness.publish_envelope(&forged).await;
    let recorder = Recorder::new();
    harness.start_consumer(recorder.clone(), 5);
    let letters = eventually(WAIT, "both dead letters", || async {
        let letters = dead_letter::waiting(&harness.bus, &harness.db, "bus-test")
            .await
            .expect("the dead letters");
        (letters.len() == 2).then_some(letters)
    })
    .await;
    let event_id = |letter: &dead_letter::StoredDeadLetter| {
        serde_json::from_slice::<serde_json::Value>(&letter.payload).expect("JSON")["event_id"]
            .as_str()
            .expect("an id")
            .to_owned()
    };
    let rejected = letters
        .iter()
        .find(|letter| event_id(letter) == refused.event_id.to_string())
        .expect("the refused event's letter");
    let forged_letter = letters
        .iter()
        .find(|letter| event_id(letter) == forged.event_id.to_string())
        .expect("the forged event's letter");
    assert_eq!(rejected.reason, "this task cannot be completed");
    assert!(
        forged_letter.reason.contains("forged origin"),
        "{}",
        forged_letter.reason
    );
    let replay = |letter| {
        consumer::replay(
            &harness.bus,
            &harness.db,
            recorder.clone(),
            "bus-test",
            letter,
        )
    };

    // Before the fix the replay is refused again, and nothing is applied.
    assert_eq!(
        replay(rejected).await,
        Replayed::Refused("this task cannot be completed".into())
    );
    assert!(harness.applied(refused.event_id).await.is_empty());

    // After it: applied once, however often it is replayed.
    recorder.reject.store(false, Ordering::SeqCst);
    assert_eq!(replay(rejected).await, Replayed::Applied);
    dead_letter::settle(
        &harness.db,
        "bus-test",
        rejected.sequence,
        Settlement::Replayed,
        "applied now",
    )
    .await
    .expect("settled");
    assert_eq!(replay(rejected).await, Replayed::AlreadyApplied);
    assert_eq!(harness.applied(refused.event_id).await.len(), 1);

    // A forged letter stays refused, whatever the handler would accept.
    assert!(
        matches!(replay(forged_letter).await, Replayed::Refused(reason) if reason.contains("forged origin"))
    );
    assert!(harness.applied(forged.event_id).await.is_empty());
    let waiting = dead_letter::waiting(&harness.bus, &harness.db, "bus-test")
        .await
        .expect("the dead letters");
    assert_eq!(
        waiting
            .iter()
            .map(|letter| letter.sequence)
            .collect::<Vec<_>>(),
        vec![forged_letter.sequence]
    );
    assert_eq!(
        dead_letter::waiting_count(&harness.bus, &harness.db, "bus-test")
            .await
            .expect("the count"),
        1
    );

    // Discarded, it no longer waits.
    dead_letter::settle(
        &harness.db,
        "bus-test",
        forged_letter.sequence,
        Settlement::Discarded,
        "forged",
    )
    .await
    .expect("settled");
    assert!(
        dead_letter::waiting(&harness.bus, &harness.db, "bus-test")
            .await
            .expect("the dead letters")
            .is_empty()
    );
    assert_eq!(
        dead_letter::waiting_count(&harness.bus, &harness.db, "bus-test")
            .await
            .expect("the count"),
        0
    );
}

/// Defence in depth behind the broker's permissions: on an open broker, an
/// event in the tasks stream that tasks-api's relay did not publish (another
/// producer, or an event on another event's subject) is a dead letter with
/// its reason and is never applied.
#[tokio::test]
async fn events_of_a_forged_origin_go_to_dead_letters_and_change_nothing() {
    let harness = Harness::new(TestBroker::start().await).await;
    let wrong_producer = Envelope::new("analytics-api", completion(Uuid::new_v4()));
    harness.publish_envelope(&wrong_producer).await;
    let mut no_producer =
        serde_json::to_value(Envelope::new("tasks-api", completion(Uuid::new_v4())))
            .expect("serializes");
    no_producer
        .as_object_mut()
        .expect("an object")
        .remove("producer");
    harness
        .publish_raw(
            "tasks.completed.v1",
            serde_json::to_vec(&no_producer).expect("serializes"),
            HeaderMap::new(),
        )
        .await;
    let wrong_subject = Envelope::new("tasks-api", completion(Uuid::new_v4()));
    harness
        .publish_raw(
            "tasks.created.v2",
            serde_json::to_vec(&wrong_subject).expect("serializes"),
            HeaderMap::new(),
        )
        .await;
    let marker = Envelope::new("tasks-api", completion(Uuid::new_v4()));
    harness.publish_envelope(&marker).await;

    harness.start_consumer(Recorder::new(), 5);
    eventually(WAIT, "the real event after the forged ones", || async {
        (!harness.applied(marker.event_id).await.is_empty()).then_some(())
    })
    .await;
    let letters = eventually(WAIT, "three dead letters", || async {
        let letters = harness.dead_letters().await;
        (letters.len() == 3).then_some(letters)
    })
    .await;
    assert!(
        letters[0].reason.contains("forged origin")
            && letters[0]
                .reason
                .contains("\"analytics-api\" is not tasks-api"),
        "{}",
        letters[0].reason
    );
    assert!(
        letters[1]
            .reason
            .contains("producer (none) is not tasks-api"),
        "{}",
        letters[1].reason
    );
    assert!(
        letters[2]
            .reason
            .contains("arrived on subject \"tasks.created.v2\""),
        "{}",
        letters[2].reason
    );
    assert_eq!(letters[2].original_subject, "tasks.created.v2");
    assert!(harness.applied(wrong_producer.event_id).await.is_empty());
    assert!(harness.applied(wrong_subject.event_id).await.is_empty());
    assert_eq!(harness.applied(marker.event_id).await.len(), 1);
}

#[tokio::test]
async fn published_rows_are_pruned_once_their_retention_ended_and_not_before() {
    let harness = Harness::new(TestBroker::start().await).await;
    let retention = Duration::from_secs(2);
    harness.start_relay_with(RelaySettings {
        retention: chrono::Duration::from_std(retention).unwrap(),
        prune_every: Duration::from_millis(100),
        ..RelaySettings::default()
    });
    let rows = || async { count(&harness.db, "SELECT COUNT(*) FROM outbox_events").await };
    harness.complete_through_outbox(Uuid::new_v4()).await;
    eventually(WAIT, "the row published", || async {
        (harness.pending_outbox_rows().await == 0).then_some(())
    })
    .await;
    let published = Instant::now();
    assert_eq!(rows().await, 1, "a published row is kept for its retention");
    eventually(WAIT, "the published row pruned", || async {
        (rows().await == 0).then_some(())
    })
    .await;
    assert!(
        published.elapsed() >= retention - Duration::from_millis(500),
        "pruned {:?} after it was published, before its retention of {retention:?}",
        published.elapsed()
    );
    assert_eq!(
        harness.stream_messages("tasks").await,
        1,
        "and it was published"
    );
}
