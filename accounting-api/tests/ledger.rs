//! The ledger against real JetStream streams of task events: any order and
//! duplicates give the same balances, a replay into an empty database gives
//! the same balances, and a close interrupted by a crash is finished on the
//! next start without paying anyone twice. Plus the ledger's invariants as
//! property tests.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use accounting_api::AccountingApi;
use accounting_api::config::Config as AccountingConfig;
use accounting_api::db::{balance, billing_cycle, payout, payout_email, transaction};
use accounting_api::domain::ledger;
use accounting_api::domain::pricing::{FEE_DOLLARS, Pricing, REWARD_DOLLARS};
use accounting_api::domain::{AccountingError, billing};
use accounting_api::testing::{AccountingApp, SmtpSink, seed_earners};
use ates_core::account_replica;
use ates_core::bus::{EventBus, IncomingEvent, Outbox};
use ates_core::calendar::BusinessCalendar;
use ates_core::metrics::Metrics;
use ates_core::service::AtesService;
use ates_core::testing::{
    CommandRun, TestBroker, TestDatabase, count, eventually, free_port, publish_event, run_command,
};
use ates_core::unit_of_work::UnitOfWork;
use chrono::{DateTime, Duration as Span, Utc};
use event_schemas::accounting::TransactionKind;
use event_schemas::accounts::{AccountCreatedV1, Role};
use event_schemas::tasks::{
    TaskAssignedV1, TaskCompletedV1, TaskCreatedV1, TaskCreatedV2, TaskStatus,
};
use event_schemas::{Envelope, EventKey, EventPayload};
use proptest::prelude::*;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};
use sea_orm_migration::MigratorTrait;
use uuid::Uuid;

const UNUSED_JWKS: &str = "http://127.0.0.1:9/not-used-by-these-tests";

/// One task event of a synthetic history.
#[derive(Debug, Clone)]
enum TaskEvent {
    CreatedV1(Envelope<TaskCreatedV1>),
    CreatedV2(Envelope<TaskCreatedV2>),
    Assigned(Envelope<TaskAssignedV1>),
    Completed(Envelope<TaskCompletedV1>),
}

impl TaskEvent {
    /// `task` given to `assignee` (from `previous`, when shuffled) at `at`.
    fn assigned(task: Uuid, assignee: Uuid, previous: Option<Uuid>, at: DateTime<Utc>) -> Self {
        TaskEvent::Assigned(Envelope::at(
            "tasks-api",
            at,
            TaskAssignedV1 {
                task_id: task,
                assignee_id: assignee,
                previous_assignee_id: previous,
                assigned_at: at,
            },
        ))
    }

    /// `task` completed by `assignee` at `at`.
    fn completed(task: Uuid, assignee: Uuid, at: DateTime<Utc>) -> Self {
        TaskEvent::Completed(Envelope::at(
            "tasks-api",
            at,
            TaskCompletedV1 {
                task_id: task,
                assignee_id: assignee,
                completed_at: at,
            },
        ))
    }

    async fn publish(&self, bus: &EventBus) {
        match self {
            TaskEvent::CreatedV1(envelope) => publish_event(bus, envelope).await,
            TaskEvent::CreatedV2(envelope) => publish_event(bus, envelope).await,
            TaskEvent::Assigned(envelope) => publish_event(bus, envelope).await,
            TaskEvent::Completed(envelope) => publish_event(bus, envelope).await,
        }
    }

    fn incoming(&self) -> IncomingEvent {
        let (key, id, envelope) = match self {
            TaskEvent::CreatedV1(e) => {
                (key::<TaskCreatedV1>(), e.event_id, serde_json::to_value(e))
            }
            TaskEvent::CreatedV2(e) => {
                (key::<TaskCreatedV2>(), e.event_id, serde_json::to_value(e))
            }
            TaskEvent::Assigned(e) => {
                (key::<TaskAssignedV1>(), e.event_id, serde_json::to_value(e))
            }
            TaskEvent::Completed(e) => (
                key::<TaskCompletedV1>(),
                e.event_id,
                serde_json::to_value(e),
            ),
        };
        IncomingEvent {
            key,
            event_id: id,
            envelope: envelope.unwrap(),
            delivered: 1,
            span: tracing::Span::none(),
        }
    }

    fn is_money(&self) -> bool {
        matches!(self, TaskEvent::Assigned(_) | TaskEvent::Completed(_))
    }
}

fn key<T: EventPayload>() -> EventKey {
    EventKey {
        name: T::NAME.into(),
        version: T::VERSION,
    }
}

/// A fresh accounting database with its first cycle open, for applying
/// events straight to the ledger.
async fn ledger_database() -> (TestDatabase, DatabaseConnection) {
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    accounting_api::db::migrations::Migrator::up(&db, None)
        .await
        .unwrap();
    let calendar = BusinessCalendar::new(chrono_tz::UTC);
    billing::ensure_open_cycle(&db, &calendar, ates_core::db::now())
        .await
        .unwrap();
    (database, db)
}

/// Applies `events` to the ledger as one batch of the consumer.
async fn apply_batch(db: &DatabaseConnection, pricing: &Pricing, events: &[TaskEvent]) {
    let outbox = Outbox::detached("accounting-api");
    let incoming: Vec<IncomingEvent> = events.iter().map(TaskEvent::incoming).collect();
    let work = UnitOfWork::begin(db, &outbox).await.unwrap();
    ledger::apply_task_events(&work, pricing, &incoming.iter().collect::<Vec<_>>())
        .await
        .unwrap();
    work.commit().await.unwrap();
}

/// A day of work: `tasks` tasks created (alternating v1 and v2), assigned,
/// some shuffled, some completed, over `accounts` accounts.
fn history(accounts: &[Uuid], tasks: usize, start: DateTime<Utc>) -> Vec<TaskEvent> {
    let mut events = Vec::new();
    let mut clock = start;
    let mut tick = || {
        clock += Span::seconds(1);
        clock
    };
    for index in 0..tasks {
        let task_id = Uuid::now_v7();
        let assignee = accounts[index % accounts.len()];
        let at = tick();
        if index % 2 == 0 {
            events.push(TaskEvent::CreatedV2(Envelope::at(
                "tasks-api",
                at,
                TaskCreatedV2 {
                    task_id,
                    title: format!("Task {index}"),
                    jira_id: Some(format!("POPUG-{index}")),
                    description: "work".into(),
                    status: TaskStatus::Open,
                    assignee_id: assignee,
                    created_at: at,
                },
            )));
        } else {
            events.push(TaskEvent::CreatedV1(Envelope::at(
                "tasks-api",
                at,
                TaskCreatedV1 {
                    task_id,
                    title: format!("[POPUG-{index}] Task {index}"),
                    description: "work".into(),
                    status: TaskStatus::Open,
                    assignee_id: assignee,
                    created_at: at,
                },
            )));
        }
        let at = tick();
        events.push(TaskEvent::assigned(task_id, assignee, None, at));
        let mut holder = assignee;
        if index % 3 == 0 {
            let next = accounts[(index + 1) % accounts.len()];
            let at = tick();
            events.push(TaskEvent::assigned(task_id, next, Some(holder), at));
            holder = next;
        }
        if index % 2 == 1 || index % 5 == 0 {
            let at = tick();
            events.push(TaskEvent::completed(task_id, holder, at));
        }
    }
    events
}

async fn balances(db: &DatabaseConnection) -> Vec<(Uuid, i64)> {
    balance::Entity::find()
        .order_by_asc(balance::Column::AccountId)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.account_id, row.balance_cents))
        .collect()
}

async fn wait_for_transactions(db: &DatabaseConnection, count: usize) {
    eventually(
        Duration::from_secs(30),
        "the ledger to catch up",
        || async {
            let rows = transaction::Entity::find().all(db).await.unwrap();
            (rows.len() >= count).then_some(())
        },
    )
    .await;
}

/// Publishes an `accounts.created` for each of `accounts`, as auth-api
/// would: workers `popug{index}@popug.inc`.
async fn publish_accounts(bus: &EventBus, accounts: &[Uuid]) {
    for (index, account_id) in accounts.iter().enumerate() {
        let created = AccountCreatedV1 {
            account_id: *account_id,
            email: format!("popug{index}@popug.inc"),
            full_name: format!("Popug {index}"),
            role: Role::Worker,
            active: true,
            created_at: Utc::now() - Span::hours(2),
        };
        publish_event(bus, &Envelope::new("auth-api", created)).await;
    }
}

async fn replica(db: &DatabaseConnection) -> Vec<account_replica::ReplicatedAccount> {
    account_replica::entity::Entity::find()
        .order_by_asc(account_replica::entity::Column::Id)
        .all(db)
        .await
        .unwrap()
}

/// A broker with accounting on it, and a bus to publish task events.
async fn accounting_on_fresh_broker() -> (TestBroker, AccountingApp, EventBus) {
    let broker = TestBroker::start().await;
    let app = AccountingApp::spawn(&broker, UNUSED_JWKS).await;
    let bus = EventBus::connect(&broker.bus_config("ledger-test"))
        .await
        .unwrap();
    (broker, app, bus)
}

#[tokio::test]
async fn any_order_and_duplicates_give_the_same_balances() {
    let accounts: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    let events = history(&accounts, 12, Utc::now() - Span::hours(1));
    let money_events = events.iter().filter(|event| event.is_money()).count();

    let (_in_order_broker, in_order, in_order_bus) = accounting_on_fresh_broker().await;
    for event in &events {
        event.publish(&in_order_bus).await;
    }

    // The other copy sees the events backwards (so every assignment and
    // completion comes before its task's creation) and each twice.
    let (_shuffled_broker, shuffled, shuffled_bus) = accounting_on_fresh_broker().await;
    for event in events.iter().rev() {
        event.publish(&shuffled_bus).await;
        event.publish(&shuffled_bus).await;
    }

    wait_for_transactions(&in_order.db, money_events).await;
    wait_for_transactions(&shuffled.db, money_events).await;
    // The late creations still fill in the titles (v1 titles upgraded); the
    // very last message of the shuffled stream is a creation, so once every
    // task has its title the whole stream, duplicates included, is applied.
    let tasks = eventually(Duration::from_secs(30), "every task's title", || async {
        let tasks = accounting_api::db::task::Entity::find()
            .all(&shuffled.db)
            .await
            .unwrap();
        tasks
            .iter()
            .all(|task| {
                task.title
                    .as_deref()
                    .is_some_and(|title| title.starts_with("Task"))
            })
            .then_some(tasks)
    })
    .await;
    let expected = balances(&in_order.db).await;
    assert_eq!(expected.len(), 3);
    assert_eq!(balances(&shuffled.db).await, expected);
    assert_eq!(
        transaction::Entity::find()
            .all(&shuffled.db)
            .await
            .unwrap()
            .len(),
        money_events,
        "a duplicate has no effect"
    );
    assert!(tasks.iter().all(|task| task.jira_id.is_some()));
}

#[tokio::test]
async fn replaying_the_streams_into_an_empty_database_gives_the_same_balances() {
    let accounts: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
    let events = history(&accounts, 15, Utc::now() - Span::hours(1));
    let money_events = events.iter().filter(|event| event.is_money()).count();
    let (broker, original, bus) = accounting_on_fresh_broker().await;
    for event in &events {
        event.publish(&bus).await;
    }
    wait_for_transactions(&original.db, money_events).await;

    let rebuilt = AccountingApp::spawn_with(&broker, UNUSED_JWKS, |config| {
        config.service.consumer_name = "accounting-api-rebuild".into();
    })
    .await;
    wait_for_transactions(&rebuilt.db, money_events).await;
    assert_eq!(balances(&rebuilt.db).await, balances(&original.db).await);
}

/// Runs `accounting-api rebuild` as an operator would, with `config`.
async fn rebuild(config: &AccountingConfig) -> CommandRun {
    let binary = env!("CARGO_BIN_EXE_accounting-api");
    run_command(binary, &config.service, &["rebuild"]).await
}

#[tokio::test]
async fn rebuild_replays_the_account_replica_and_never_the_ledger() {
    let accounts: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    let events = history(&accounts, 10, Utc::now() - Span::hours(1));
    let money = events.iter().filter(|event| event.is_money()).count();
    let (_broker, app, bus) = accounting_on_fresh_broker().await;
    publish_accounts(&bus, &accounts).await;
    for event in &events {
        event.publish(&bus).await;
    }
    wait_for_transactions(&app.db, money).await;
    let before = eventually(Duration::from_secs(20), "the three accounts", || async {
        let rows = replica(&app.db).await;
        (rows.len() == 3).then_some(rows)
    })
    .await;
    let expected = balances(&app.db).await;

    // While the service consumes, the rebuild is refused.
    let refused = rebuild(&app.config).await;
    assert!(
        !refused.ok && refused.stderr.contains("is consuming the accounts stream"),
        "{refused:?}"
    );

    // Stopped, it replays the accounts stream only: the replica is the
    // same, and nothing is priced, posted or published again.
    let stopped = app.stop_and_open().await;
    let outbox = "SELECT COUNT(*) FROM outbox_events";
    let written = count(&stopped.db, outbox).await;
    let rebuilt = rebuild(&stopped.config).await;
    assert!(rebuilt.ok, "{rebuilt:?}");
    assert_eq!(
        rebuilt.stdout.lines().next(),
        Some("accounts: replayed 3 event(s)"),
        "{rebuilt:?}"
    );
    assert!(!rebuilt.stdout.contains("tasks:"), "{rebuilt:?}");
    assert_eq!(replica(&stopped.db).await, before);
    assert_eq!(balances(&stopped.db).await, expected);
    assert_eq!(
        transaction::Entity::find()
            .count(&stopped.db)
            .await
            .unwrap(),
        u64::try_from(money).unwrap()
    );
    assert_eq!(count(&stopped.db, outbox).await, written, "nothing written");

    // Started again, it goes on from there: a new account and a new task
    // are applied once each.
    let app = stopped.restart().await;
    let newcomer = [Uuid::now_v7()];
    publish_accounts(&bus, &newcomer).await;
    let sentinel = history(&newcomer, 1, Utc::now());
    for event in &sentinel {
        event.publish(&bus).await;
    }
    let total = money + sentinel.iter().filter(|event| event.is_money()).count();
    wait_for_transactions(&app.db, total).await;
    eventually(Duration::from_secs(20), "the fourth account", || async {
        (replica(&app.db).await.len() == 4).then_some(())
    })
    .await;
    assert_eq!(
        transaction::Entity::find().count(&app.db).await.unwrap(),
        u64::try_from(total).unwrap(),
        "nothing applied twice"
    );
}

/// Runs `accounting-api dead-letters ARGS` as an operator would, with
/// `config`.
async fn dead_letters(config: &AccountingConfig, args: &[&str]) -> CommandRun {
    let args: Vec<&str> = ["dead-letters"]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    run_command(env!("CARGO_BIN_EXE_accounting-api"), &config.service, &args).await
}

/// Sets the status of every billing cycle in `from` to `to`.
async fn set_cycle_status(db: &DatabaseConnection, from: &str, to: &str) -> u64 {
    billing_cycle::Entity::update_many()
        .col_expr(
            billing_cycle::Column::Status,
            sea_orm::sea_query::Expr::value(to),
        )
        .filter(billing_cycle::Column::Status.eq(from))
        .exec(db)
        .await
        .unwrap()
        .rows_affected
}

#[tokio::test]
async fn a_dead_letter_fixed_and_replayed_takes_effect_once() {
    let broker = TestBroker::start().await;
    let app = AccountingApp::spawn_with(&broker, UNUSED_JWKS, |config| {
        config.service.consumer_max_deliver = 2;
        config.service.consumer_retry_base = Duration::from_millis(20);
    })
    .await;
    let bus = EventBus::connect(&broker.bus_config("ledger-test"))
        .await
        .unwrap();
    let accounts = [Uuid::now_v7()];
    publish_accounts(&bus, &accounts).await;

    // A fault: no billing cycle is open, so the task's fee and reward
    // cannot be posted; after two deliveries each is a dead letter.
    assert_eq!(set_cycle_status(&app.db, "open", "closing").await, 1);
    let events = history(&accounts, 1, Utc::now() - Span::minutes(5));
    let money: Vec<String> = events
        .iter()
        .filter(|event| event.is_money())
        .map(|event| event.incoming().event_id.to_string())
        .collect();
    assert!(!money.is_empty());
    for event in &events {
        event.publish(&bus).await;
    }
    let letters = eventually(Duration::from_secs(30), "the dead letters", || async {
        let listed = dead_letters(&app.config, &["list", "--json"]).await;
        assert!(listed.ok, "{listed:?}");
        let letters: Vec<serde_json::Value> = serde_json::from_str(&listed.stdout).unwrap();
        (letters.len() == money.len()).then_some(letters)
    })
    .await;
    let mut ids: Vec<String> = letters
        .iter()
        .map(|letter| letter["event_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    let mut expected_ids = money.clone();
    expected_ids.sort();
    assert_eq!(ids, expected_ids);
    for letter in &letters {
        let reason = letter["reason"].as_str().unwrap();
        assert!(
            reason.contains("gave up after 2 deliveries")
                && reason.contains("no open billing cycle"),
            "{reason}"
        );
    }
    assert_eq!(transaction::Entity::find().count(&app.db).await.unwrap(), 0);

    // Replayed before the fix, they are refused again and keep waiting.
    let early = dead_letters(&app.config, &["replay", "--all"]).await;
    assert!(
        !early.ok && early.stderr.contains("refused again"),
        "{early:?}"
    );
    let listed = dead_letters(&app.config, &["list", "--json"]).await;
    let waiting: Vec<serde_json::Value> = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(waiting.len(), money.len());

    // Fixed, each is applied once by the replay...
    assert_eq!(set_cycle_status(&app.db, "closing", "open").await, 1);
    let replayed = dead_letters(&app.config, &["replay", "--all"]).await;
    assert!(replayed.ok, "{replayed:?}");
    assert!(
        replayed
            .stdout
            .contains(&format!("{} replayed, 0 refused again", money.len())),
        "{replayed:?}"
    );
    let posted = transaction::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(posted.len(), money.len());
    let cents: i64 = posted.iter().map(|row| row.amount_cents).sum();
    assert_eq!(balances(&app.db).await, vec![(accounts[0], cents)]);

    // ...and only once: nothing waits, the same letter cannot be replayed
    // again, and a later task (the marker that the consumer went on) is
    // posted on top of it.
    let listed = dead_letters(&app.config, &["list", "--json"]).await;
    assert_eq!(listed.stdout.trim(), "[]", "{listed:?}");
    let sequence = letters[0]["sequence"].as_u64().unwrap().to_string();
    let again = dead_letters(&app.config, &["replay", &sequence]).await;
    assert!(
        !again.ok && again.stderr.contains("no dead letter"),
        "{again:?}"
    );
    let later = history(&accounts, 1, Utc::now());
    for event in &later {
        event.publish(&bus).await;
    }
    let total = money.len() + later.iter().filter(|event| event.is_money()).count();
    wait_for_transactions(&app.db, total).await;
    assert_eq!(
        transaction::Entity::find().count(&app.db).await.unwrap(),
        u64::try_from(total).unwrap()
    );
}

#[tokio::test]
async fn a_restored_backup_catches_up_from_the_streams_and_the_books_balance() {
    let accounts: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    let events = history(&accounts, 16, Utc::now() - Span::hours(1));
    let (before_backup, after_backup) = events.split_at(events.len() / 2);
    let money = |events: &[TaskEvent]| events.iter().filter(|event| event.is_money()).count();
    let (_broker, app, bus) = accounting_on_fresh_broker().await;
    for event in before_backup {
        event.publish(&bus).await;
    }
    wait_for_transactions(&app.db, money(before_backup)).await;
    let directory = tempfile::tempdir().unwrap();
    let file = directory.path().join("accounting.backup");
    ates_core::operations::backup(&app.config.service, &file)
        .await
        .unwrap();
    assert!(
        ates_core::operations::backup(&app.config.service, &file)
            .await
            .is_err(),
        "a backup never overwrites a file"
    );

    // Work goes on after the backup.
    for event in after_backup {
        event.publish(&bus).await;
    }
    wait_for_transactions(&app.db, money(&events)).await;
    let expected = balances(&app.db).await;

    // Restored (the service stopped), the database is the backup's...
    let (database, config) = app.stop().await;
    let handler = <AccountingApi as AtesService>::events(&config, &Metrics::new());
    ates_core::operations::restore(&config.service, &handler, &file)
        .await
        .unwrap();
    let db = database.connect().await;
    assert_eq!(
        transaction::Entity::find().count(&db).await.unwrap(),
        u64::try_from(money(before_backup)).unwrap(),
        "the restored ledger is the backup's"
    );
    db.close().await.unwrap();

    // ...and the next start catches up from the streams, each event once:
    // once a task published after everything is in the ledger, every
    // earlier event has been read.
    let app = AccountingApp::start_on(database, config).await;
    let sentinel = history(&accounts[..1], 1, Utc::now());
    for event in &sentinel {
        event.publish(&bus).await;
    }
    let total = money(&events) + money(&sentinel);
    wait_for_transactions(&app.db, total).await;
    assert_eq!(
        transaction::Entity::find().count(&app.db).await.unwrap(),
        u64::try_from(total).unwrap(),
        "nothing applied twice"
    );
    let after = balances(&app.db).await;
    let sentinel_tasks: Vec<Uuid> = sentinel
        .iter()
        .filter_map(|event| match event {
            TaskEvent::Assigned(assigned) => Some(assigned.data.task_id),
            _ => None,
        })
        .collect();
    let sentinel_cents: i64 = transaction::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .iter()
        .filter(|row| {
            row.task_id
                .is_some_and(|task| sentinel_tasks.contains(&task))
        })
        .map(|row| row.amount_cents)
        .sum();
    let mut expected = expected;
    for (account, cents) in &mut expected {
        if *account == accounts[0] {
            *cents += sentinel_cents;
        }
    }
    assert_eq!(after, expected);
}

#[tokio::test]
async fn a_close_interrupted_by_a_crash_is_finished_on_restart_paying_once() {
    let accounts: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    let events = history(&accounts, 12, Utc::now() - Span::hours(1));
    let money_events = events.iter().filter(|event| event.is_money()).count();
    let (_broker, app, bus) = accounting_on_fresh_broker().await;
    // The accounts exist (for the payout emails' addresses).
    publish_accounts(&bus, &accounts).await;
    for event in &events {
        event.publish(&bus).await;
    }
    wait_for_transactions(&app.db, money_events).await;
    let before = balances(&app.db).await;
    let positive: Vec<&(Uuid, i64)> = before.iter().filter(|(_, cents)| *cents > 0).collect();
    assert!(
        !positive.is_empty(),
        "the history leaves someone in credit: {before:?}"
    );

    // The process dies right after marking the cycle "closing".
    let stopped = app.stop_and_open().await;
    let calendar = BusinessCalendar::new(stopped.config.service.business_timezone);
    let closing = billing::begin_close(&stopped.db, &calendar, ates_core::db::now())
        .await
        .unwrap();
    let app = stopped.restart().await;
    let cycle = billing_cycle::Entity::find_by_id(closing.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cycle.status, "closed", "the start finished the close");
    assert_eq!(
        usize::try_from(cycle.payments_count).unwrap(),
        positive.len()
    );
    let after = balances(&app.db).await;
    for (account, cents) in &before {
        let now = after.iter().find(|(id, _)| id == account).unwrap().1;
        assert_eq!(
            now,
            if *cents > 0 { 0 } else { *cents },
            "paid out or carried over"
        );
    }

    // It dies again after the payouts, before marking the cycle closed.
    let stopped = app.stop_and_open().await;
    billing_cycle::Entity::update_many()
        .col_expr(
            billing_cycle::Column::Status,
            sea_orm::sea_query::Expr::value("closing"),
        )
        .filter(billing_cycle::Column::Id.eq(closing.id))
        .exec(&stopped.db)
        .await
        .unwrap();
    let app = stopped.restart().await;
    let payouts = payout::Entity::find()
        .filter(payout::Column::BillingCycleId.eq(closing.id))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(payouts.len(), positive.len(), "nobody is paid twice");
    assert_eq!(balances(&app.db).await, after);
    let emails = eventually(Duration::from_secs(10), "the emails stored", || async {
        let emails = payout_email::Entity::find().all(&app.db).await.unwrap();
        emails
            .iter()
            .all(|email| email.status == "stored")
            .then_some(emails)
    })
    .await;
    assert_eq!(emails.len(), positive.len(), "one email per payout");
}

#[tokio::test]
async fn a_close_of_thousands_stopped_between_batches_pays_and_mails_each_account_once() {
    const EARNERS: usize = 1_200;
    let broker = TestBroker::start().await;
    let sink = SmtpSink::start().await;
    let app = AccountingApp::spawn_with(&broker, UNUSED_JWKS, |config| {
        config.smtp_url = Some(sink.url());
    })
    .await;
    let earners = seed_earners(&app.db, EARNERS, 2_500).await;

    // The process dies after the first batch of payouts has committed: the
    // state a crash anywhere in the second batch leaves (its transaction
    // rolls back).
    let stopped = app.stop_and_open().await;
    let db = &stopped.db;
    let calendar = BusinessCalendar::new(stopped.config.service.business_timezone);
    let now = ates_core::db::now();
    let closing = billing::begin_close(db, &calendar, now).await.unwrap();
    assert_eq!(
        (closing.status.as_str(), closing.closed_at),
        ("closing", Some(now)),
        "begin_close answers the cycle as it left it"
    );
    let outbox = Outbox::detached("accounting-api");
    let first = billing::pay_out_batch(db, &outbox, &closing, None, now)
        .await
        .unwrap();
    assert!(first.last.is_some());
    let paid_before = payout::Entity::find().count(db).await.unwrap();
    assert_eq!(paid_before, 500, "one batch paid before the crash");
    assert!(
        matches!(
            billing::begin_close(db, &calendar, now).await,
            Err(AccountingError::CloseInProgress)
        ),
        "no second close while one is paying"
    );
    let mailed_before = sink.messages().len();
    let app = stopped.restart().await;
    let cycle = billing_cycle::Entity::find_by_id(closing.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cycle.status, "closed", "the start finished the close");
    assert_eq!(cycle.payments_count, i64::try_from(EARNERS).unwrap());
    assert_eq!(
        cycle.payments_total_cents,
        2_500 * i64::try_from(EARNERS).unwrap()
    );
    let payouts = payout::Entity::find()
        .filter(payout::Column::BillingCycleId.eq(closing.id))
        .all(&app.db)
        .await
        .unwrap();
    let paid: std::collections::BTreeSet<Uuid> =
        payouts.iter().map(|payout| payout.account_id).collect();
    assert_eq!(payouts.len(), EARNERS, "nobody paid twice");
    assert_eq!(paid, earners.iter().copied().collect(), "everybody paid");
    assert!(
        balances(&app.db).await.iter().all(|(_, cents)| *cents == 0),
        "every balance paid out"
    );

    // No email left before the close finished; then each exactly once.
    assert_eq!(mailed_before, 0, "no email before the close finished");
    eventually(
        Duration::from_secs(60),
        "every payout email sent",
        || async {
            let pending = payout_email::Entity::find()
                .filter(payout_email::Column::Status.ne("sent"))
                .count(&app.db)
                .await
                .unwrap();
            (pending == 0).then_some(())
        },
    )
    .await;
    let mails = sink.messages();
    let recipients: std::collections::BTreeSet<&String> =
        mails.iter().flat_map(|mail| &mail.to).collect();
    assert_eq!(mails.len(), EARNERS, "one email per payout");
    assert_eq!(recipients.len(), EARNERS, "to each earner once");
}

#[tokio::test]
async fn a_close_pays_positive_balances_and_counts_only_negative_ones_as_carried() {
    let (_database, db) = ledger_database().await;
    // Counts that differ, and a balance of zero that is neither.
    let earners = seed_earners(&db, 3, 2_500).await;
    let debtors = seed_earners(&db, 2, -700).await;
    let even = seed_earners(&db, 1, 0).await;
    assert_eq!(balances(&db).await.len(), 6, "each account has a balance");

    let calendar = BusinessCalendar::new(chrono_tz::UTC);
    let outbox = Outbox::detached("accounting-api");
    let closed = billing::close_now(&db, &outbox, &calendar, ates_core::db::now())
        .await
        .unwrap();
    assert_eq!(closed.negative_balances_carried, 2, "the two debtors");
    assert_eq!(closed.cycle.payments_count, 3, "the three earners");
    assert_eq!(closed.cycle.payments_total_cents, 3 * 2_500);
    for (account, cents) in balances(&db).await {
        let expected = if debtors.contains(&account) { -700 } else { 0 };
        assert_eq!(cents, expected, "{account}: paid out or carried over");
    }
    let paid: Vec<Uuid> = payout::Entity::find()
        .order_by_asc(payout::Column::AccountId)
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|payout| payout.account_id)
        .collect();
    let mut expected = earners.clone();
    expected.sort();
    assert_eq!(paid, expected, "only the earners are paid: not {even:?}");
}

#[tokio::test]
async fn payout_emails_go_out_no_faster_than_the_configured_rate() {
    const EARNERS: usize = 30;
    const PER_SECOND: u32 = 20;
    let broker = TestBroker::start().await;
    let sink = SmtpSink::start().await;
    let app = AccountingApp::spawn_with(&broker, UNUSED_JWKS, |config| {
        config.smtp_url = Some(sink.url());
        config.mail_per_second = PER_SECOND;
    })
    .await;
    seed_earners(&app.db, EARNERS, 1_000).await;
    let calendar = BusinessCalendar::new(app.config.service.business_timezone);
    let outbox = Outbox::detached("accounting-api");
    billing::close_now(&app.db, &outbox, &calendar, ates_core::db::now())
        .await
        .unwrap();
    let mails = eventually(
        Duration::from_secs(30),
        "every payout email sent",
        || async {
            let mails = sink.messages();
            (mails.len() == EARNERS).then_some(mails)
        },
    )
    .await;
    // 30 emails at 20 a second: the last starts 29 / 20 s after the first
    // (unpaced, eight at a time, they take a tenth of that).
    let spread = mails[EARNERS - 1].received_at - mails[0].received_at;
    let least = Duration::from_millis(1_400);
    assert!(
        spread >= least,
        "{EARNERS} emails went out within {spread:?}, faster than {PER_SECOND} a second"
    );
}

// ---- properties ------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn prices_are_always_in_range_and_whole_dollars(seed in ".{0,20}", id in any::<u128>()) {
        let price = Pricing::new(seed).price(Uuid::from_u128(id));
        prop_assert!(FEE_DOLLARS.contains(&(price.assignment_fee_cents / 100)));
        prop_assert!(REWARD_DOLLARS.contains(&(price.reward_cents / 100)));
        prop_assert_eq!(price.assignment_fee_cents % 100, 0);
        prop_assert_eq!(price.reward_cents % 100, 0);
    }
}

/// Applies a history in batches of `batch` events straight to the ledger
/// and closes cycles in between; every account's balance must equal the
/// sum of its ledger entries. (No event comes twice here: duplicates stop
/// at the consumer's processed-event check, before the ledger, which
/// `an_event_delivered_twice_is_applied_once` in ates-core's bus tests and
/// the cluster suite's fee and reward lines prove.)
async fn ledger_sums_to_balances(
    tasks: usize,
    closes_after: Vec<usize>,
    accounts: usize,
    batch: usize,
) {
    let (_database, db) = ledger_database().await;
    let calendar = BusinessCalendar::new(chrono_tz::UTC);
    let outbox = Outbox::detached("accounting-api");
    let pricing = Pricing::new("property");
    let ids: Vec<Uuid> = (0..accounts).map(|_| Uuid::now_v7()).collect();
    let events = history(&ids, tasks, Utc::now() - Span::hours(1));
    for (chunk, batch) in events.chunks(batch).enumerate() {
        apply_batch(&db, &pricing, batch).await;
        if closes_after.contains(&chunk) {
            billing::close_now(&db, &outbox, &calendar, ates_core::db::now())
                .await
                .unwrap();
        }
    }
    for (account, cents) in balances(&db).await {
        let sum: i64 = transaction::Entity::find()
            .filter(transaction::Column::AccountId.eq(account))
            .all(&db)
            .await
            .unwrap()
            .iter()
            .map(|row| row.amount_cents)
            .sum();
        assert_eq!(
            cents, sum,
            "balance of {account} is the sum of its transactions"
        );
    }
    let open = billing_cycle::Entity::find()
        .filter(billing_cycle::Column::Status.eq("open"))
        .all(&db)
        .await
        .unwrap();
    assert_eq!(open.len(), 1, "exactly one open cycle");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn the_ledger_always_sums_to_the_balance(tasks in 1usize..12, accounts in 1usize..4, closes in proptest::collection::vec(0usize..40, 0..3), batch in 1usize..8) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(ledger_sums_to_balances(tasks, closes, accounts, batch));
    }
}

/// The details of a task the ledger knows, arriving in the same batch as
/// the first event of a task it does not: both tasks end up with theirs.
#[tokio::test]
async fn details_of_a_known_task_apply_in_a_batch_that_prices_a_new_one() {
    let (_database, db) = ledger_database().await;
    let pricing = Pricing::new("batch");
    let at = Utc::now();
    let (known, new, assignee) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let created = |task_id: Uuid, title: &str| {
        TaskEvent::CreatedV2(Envelope::at(
            "tasks-api",
            at,
            TaskCreatedV2 {
                task_id,
                title: title.into(),
                jira_id: None,
                description: "work".into(),
                status: TaskStatus::Open,
                assignee_id: assignee,
                created_at: at,
            },
        ))
    };
    // The known task is priced by its assignment, before its details.
    let assigned = TaskEvent::assigned(known, assignee, None, at);
    apply_batch(&db, &pricing, &[assigned]).await;
    apply_batch(
        &db,
        &pricing,
        &[created(new, "The new one"), created(known, "The known one")],
    )
    .await;
    let title = |task_id: Uuid| {
        let db = db.clone();
        async move {
            accounting_api::db::task::Entity::find_by_id(task_id)
                .one(&db)
                .await
                .unwrap()
                .and_then(|task| task.title)
        }
    };
    assert_eq!(title(known).await.as_deref(), Some("The known one"));
    assert_eq!(title(new).await.as_deref(), Some("The new one"));
}

/// What the fee and reward counters of `GET /metrics` are told for each
/// task event: the task's price, whichever event arrives.
#[test]
fn each_charge_is_the_tasks_price_and_details_charge_nothing() {
    let pricing = Pricing::new("charges");
    let [task, assignee] = [Uuid::now_v7(), Uuid::now_v7()];
    let at = Utc::now();
    let price = pricing.price(task);
    let assigned = TaskEvent::assigned(task, assignee, None, at);
    let completed = TaskEvent::completed(task, assignee, at);
    let created = TaskEvent::CreatedV1(Envelope::at(
        "tasks-api",
        at,
        TaskCreatedV1 {
            task_id: task,
            title: "Sweep".into(),
            description: "work".into(),
            status: TaskStatus::Open,
            assignee_id: assignee,
            created_at: at,
        },
    ));
    assert_eq!(
        ledger::charge_of(&pricing, &assigned.incoming()),
        Some((TransactionKind::AssignmentFee, price.assignment_fee_cents))
    );
    assert_eq!(
        ledger::charge_of(&pricing, &completed.incoming()),
        Some((TransactionKind::TaskReward, price.reward_cents))
    );
    assert_eq!(ledger::charge_of(&pricing, &created.incoming()), None);
}

#[tokio::test]
async fn a_tasks_details_change_only_with_a_newer_revision() {
    use accounting_api::db::{task, transaction};
    use event_schemas::tasks::{TaskAssignedV2, TaskCreatedV3};
    let (_broker, app, bus) = accounting_on_fresh_broker().await;
    let at = Utc::now();
    let task_id = Uuid::now_v7();
    let assignee = Uuid::now_v7();
    let created = |title: &str, revision: i64| TaskCreatedV3 {
        task_id,
        title: title.into(),
        jira_id: None,
        description: "work".into(),
        status: TaskStatus::Open,
        assignee_id: assignee,
        created_at: at,
        revision,
    };
    publish_event(
        &bus,
        &Envelope::at("tasks-api", at, created("Fix the nest", 1)),
    )
    .await;
    // A copy at the same revision and one from before revisions change
    // nothing; the fee after them shows they were applied.
    publish_event(&bus, &Envelope::at("tasks-api", at, created("A copy", 1))).await;
    publish_event(
        &bus,
        &Envelope::at("tasks-api", at, created("Unrevisioned", 7).into_v2()),
    )
    .await;
    publish_event(
        &bus,
        &Envelope::at(
            "tasks-api",
            at,
            TaskAssignedV2 {
                task_id,
                assignee_id: assignee,
                previous_assignee_id: None,
                assigned_at: at,
                revision: 1,
            },
        ),
    )
    .await;
    let title = || async {
        task::Entity::find_by_id(task_id)
            .one(&app.db)
            .await
            .unwrap()
            .and_then(|task| task.title)
    };
    eventually(Duration::from_secs(20), "the fee", || async {
        let fees = transaction::Entity::find()
            .filter(transaction::Column::TaskId.eq(task_id))
            .all(&app.db)
            .await
            .unwrap();
        (fees.len() == 1).then_some(())
    })
    .await;
    assert_eq!(title().await.as_deref(), Some("Fix the nest"));
    publish_event(
        &bus,
        &Envelope::at("tasks-api", at, created("Fix the roof", 2)),
    )
    .await;
    eventually(Duration::from_secs(20), "the newer details", || async {
        (title().await.as_deref() == Some("Fix the roof")).then_some(())
    })
    .await;
}

/// A switch spelled any other way than `on` or `off` (`false`, `OFF`)
/// stops the start with a message naming it: it used to leave the scheduler
/// on, closing days a deployment meant to close from outside.
#[tokio::test]
async fn a_close_scheduler_setting_other_than_on_or_off_stops_the_start() {
    let database = TestDatabase::create().await;
    for value in ["false", "OFF"] {
        let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_accounting-api"))
            .env_clear()
            .env("DATABASE_URL", database.url())
            .env("NATS_URL", format!("nats://127.0.0.1:{}", free_port()))
            .env("CLOSE_SCHEDULER", value)
            .env("RUST_LOG", "warn")
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(30), run)
            .await
            .unwrap_or_else(|_| panic!("CLOSE_SCHEDULER={value} did not stop the start"))
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "CLOSE_SCHEDULER={value} started");
        assert!(
            stderr.contains(&format!("CLOSE_SCHEDULER=\"{value}\" is not on or off")),
            "CLOSE_SCHEDULER={value}: {stderr}"
        );
    }
}

#[tokio::test]
async fn the_scheduler_closes_each_business_day_at_its_midnight_in_the_business_zone() {
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    accounting_api::db::migrations::Migrator::up(&db, None)
        .await
        .unwrap();
    // Moscow is UTC+3: its midnight is 21:00 UTC.
    let calendar = BusinessCalendar::new(chrono_tz::Europe::Moscow);
    let outbox = Outbox::detached("accounting-api");
    let at = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
    let step = |now: DateTime<Utc>| {
        let (db, outbox, calendar) = (&db, &outbox, &calendar);
        async move {
            billing::close_if_day_over(db, outbox, calendar, now)
                .await
                .unwrap()
                .map(|summary| summary.cycle.business_date)
        }
    };
    let dates = || async {
        billing_cycle::Entity::find()
            .order_by_asc(billing_cycle::Column::Seq)
            .all(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|cycle| (cycle.business_date, cycle.status))
            .collect::<Vec<_>>()
    };

    // 23:00 in Moscow on 3 March: the day is not over, nothing closes.
    assert_eq!(step(at("2026-03-03T20:00:00Z")).await, None);
    assert_eq!(step(at("2026-03-03T20:59:59Z")).await, None);
    assert_eq!(dates().await, [("2026-03-03".into(), "open".into())]);

    // Midnight in Moscow: 3 March closes, 4 March opens, once.
    assert_eq!(
        step(at("2026-03-03T21:00:00Z")).await,
        Some("2026-03-03".into())
    );
    assert_eq!(step(at("2026-03-03T21:00:01Z")).await, None);
    assert_eq!(
        dates().await,
        [
            ("2026-03-03".into(), "closed".into()),
            ("2026-03-04".into(), "open".into())
        ]
    );

    // The service was down over 5 March: at start the cycle of 4 March is
    // closed, and the next one is of the day it is now.
    assert_eq!(
        step(at("2026-03-06T07:00:00Z")).await,
        Some("2026-03-04".into())
    );
    assert_eq!(step(at("2026-03-06T07:00:01Z")).await, None);
    assert_eq!(
        dates().await,
        [
            ("2026-03-03".into(), "closed".into()),
            ("2026-03-04".into(), "closed".into()),
            ("2026-03-06".into(), "open".into())
        ]
    );
}
