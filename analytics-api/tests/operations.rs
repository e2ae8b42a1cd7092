//! What an operator of aTES relies on, tested on the four services running
//! on one broker: the metrics each serves at `GET /metrics` count exactly
//! what happened, and every metric the alert rules
//! (`deploy/prometheus/alerts.yml`) and the dashboard
//! (`deploy/grafana/ates.json`) use is served; one trace follows a request
//! through the events it causes; the `dead-letters` commands of the
//! service binary list, show, replay and discard.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use accounting_api::testing::{AccountingApp, SmtpSink};
use analytics_api::testing::AnalyticsApp;
use ates_core::bus::EventBus;
use ates_core::config::ServiceSettings;
use ates_core::testing::{
    Scrape, count, eventually, publish_event, published_messages, run_command,
};
use ates_core::trace::trace_id_of;
use auth_api::testing::{Popug, TestApp as AuthApp};
use chrono::Utc;
use event_schemas::Envelope;
use event_schemas::tasks::TaskCompletedV1;
use reqwest::StatusCode;
use tasks_api::testing::TasksApp;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(20);

struct System {
    auth: AuthApp,
    tasks: TasksApp,
    accounting: AccountingApp,
    analytics: AnalyticsApp,
    smtp: SmtpSink,
    bus: EventBus,
}

impl System {
    async fn start() -> Self {
        let auth = AuthApp::spawn().await;
        let tasks = TasksApp::spawn(&auth.broker, &auth.jwks_url()).await;
        let smtp = SmtpSink::start().await;
        let accounting = AccountingApp::spawn_with(&auth.broker, &auth.jwks_url(), |config| {
            config.smtp_url = Some(smtp.url());
        })
        .await;
        let analytics = AnalyticsApp::spawn(&auth.broker, &auth.jwks_url()).await;
        let bus = EventBus::connect(&auth.broker.bus_config("operations-test"))
            .await
            .unwrap();
        Self {
            auth,
            tasks,
            accounting,
            analytics,
            smtp,
            bus,
        }
    }

    async fn popug(&self, email: &str, role: &str) -> Popug {
        let popug = self.auth.popug(email, role).await;
        self.tasks.wait_for_account(&popug.id, true).await;
        self.tasks.wait_for_role(&popug.id, role).await;
        popug
    }

    /// Each service's metrics: auth, tasks, accounting, analytics.
    async fn scrapes(&self) -> [Scrape; 4] {
        let client = &self.auth.client;
        [
            Scrape::of(client, &self.auth.address).await,
            Scrape::of(client, &self.tasks.address).await,
            Scrape::of(client, &self.accounting.address).await,
            Scrape::of(client, &self.analytics.address).await,
        ]
    }
}

/// Waits until `series` of the service at `address` has `value`.
async fn wait_for_value(address: &str, series: &str, value: f64) {
    let client = reqwest::Client::new();
    let mut last = f64::NAN;
    let found = tokio::time::timeout(WAIT, async {
        loop {
            let scrape = Scrape::of(&client, address).await;
            last = scrape.samples.get(series).copied().unwrap_or(f64::NAN);
            if last == value {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        found.is_ok(),
        "{address}: {series} stayed {last}, never {value}"
    );
}

/// Publishes a `tasks.completed` that tasks-api did not produce (its
/// `producer` is `evil-api`): every consumer of the tasks stream refuses it
/// as a dead letter.
async fn publish_forged_completion(bus: &EventBus) -> Envelope<TaskCompletedV1> {
    let forged = Envelope::new(
        "evil-api",
        TaskCompletedV1 {
            task_id: Uuid::now_v7(),
            assignee_id: Uuid::now_v7(),
            completed_at: Utc::now(),
        },
    );
    publish_event(bus, &forged).await;
    forged
}

/// Every `ates_...` name in a file of the operator's configuration.
fn names_used_in(path: &str) -> BTreeSet<String> {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path);
    let text = std::fs::read_to_string(&file).unwrap_or_else(|_| panic!("{path} is missing"));
    let mut names = BTreeSet::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("ates_") {
        let name: String = rest[start..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        rest = &rest[start + name.len()..];
        names.insert(name);
    }
    assert!(!names.is_empty(), "{path} uses no aTES metric");
    names
}

#[tokio::test]
async fn metrics_count_what_happened_and_serve_every_series_the_alerts_and_dashboard_use() {
    let system = System::start().await;

    // From the start, the series the alerts and counts read exist at zero.
    let [auth, tasks, accounting, analytics] = system.scrapes().await;
    assert_eq!(auth.value(r#"ates_logins_total{outcome="throttled"}"#), 0.0);
    assert_eq!(tasks.value("ates_tasks_created_total"), 0.0);
    assert_eq!(tasks.value("ates_tasks_completed_total"), 0.0);
    assert_eq!(accounting.value("ates_fees_cents_total"), 0.0);
    assert_eq!(accounting.value("ates_payouts_total"), 0.0);
    assert_eq!(
        accounting.value(r#"ates_payout_emails_total{outcome="failed"}"#),
        0.0
    );
    for consumer in [&tasks, &accounting, &analytics] {
        assert_eq!(consumer.value("ates_dead_letters_waiting"), 0.0);
        assert_eq!(
            consumer.value(r#"ates_consumer_events_total{event="other",outcome="dead_lettered"}"#),
            0.0
        );
    }
    assert_eq!(
        accounting
            .value(r#"ates_consumer_events_total{event="tasks.completed",outcome="applied"}"#),
        0.0
    );
    assert_eq!(
        accounting.value(r#"ates_consumer_pending{stream="tasks"}"#),
        0.0
    );
    assert!(
        !auth.names().contains("ates_consumer_events_total"),
        "auth-api consumes nothing and serves no consumer series"
    );

    // Logins by outcome.
    let manager = system.popug("boss@popug.inc", "manager").await;
    let kesha = system.popug("kesha@popug.inc", "worker").await;
    let logins = |scrape: &Scrape, outcome: &str| {
        scrape.value(&format!(r#"ates_logins_total{{outcome="{outcome}"}}"#))
    };
    let [before, ..] = system.scrapes().await;
    let refused = system.auth.login(&kesha.email, "not the password").await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    system.auth.access_token(&kesha.email).await;
    let [after, ..] = system.scrapes().await;
    assert_eq!(logins(&after, "refused"), logins(&before, "refused") + 1.0);
    assert_eq!(
        logins(&after, "succeeded"),
        logins(&before, "succeeded") + 1.0
    );
    assert_eq!(logins(&after, "throttled"), 0.0);

    // A task created and completed: counted once each, its fee and reward
    // in cents once accounting applied the events.
    let task = system.tasks.task(&manager.token, "Fix the nest").await;
    system
        .tasks
        .completed(&kesha.token, &task.id.to_string())
        .await;
    let log = eventually(WAIT, "the fee and the reward in accounting", || async {
        let log = system.accounting.my_transactions(&kesha.token, None).await;
        (log.len() == 2).then_some(log)
    })
    .await;
    let fee = -log[0].amount_cents;
    let reward = log[1].amount_cents;
    let accounting_at = system.accounting.address.clone();
    wait_for_value(&accounting_at, "ates_fees_cents_total", fee as f64).await;
    wait_for_value(&accounting_at, "ates_rewards_cents_total", reward as f64).await;
    wait_for_value(
        &accounting_at,
        r#"ates_consumer_events_total{event="tasks.completed",outcome="applied"}"#,
        1.0,
    )
    .await;
    let missing = system
        .tasks
        .client
        .get(system.tasks.url("/no/such/path"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let [_, tasks, ..] = system.scrapes().await;
    assert_eq!(tasks.value("ates_tasks_created_total"), 1.0);
    assert_eq!(tasks.value("ates_tasks_completed_total"), 1.0);
    assert_eq!(
        tasks.value(r#"ates_http_requests_total{route="/v1/tasks",method="POST",status="201"}"#),
        1.0
    );
    assert_eq!(
        tasks.value(
            r#"ates_http_requests_total{route="/v1/tasks/{id}/complete",method="POST",status="200"}"#
        ),
        1.0
    );
    assert_eq!(
        tasks.value(r#"ates_http_requests_total{route="unmatched",method="GET",status="404"}"#),
        1.0
    );
    assert_eq!(
        tasks.value(r#"ates_http_request_duration_seconds_count{route="/v1/tasks",method="POST"}"#),
        1.0
    );

    // The relay's count is the rows it marked published, and nothing waits.
    let tasks_at = system.tasks.address.clone();
    wait_for_value(&tasks_at, "ates_outbox_waiting", 0.0).await;
    let published = count(
        &system.tasks.db,
        "SELECT COUNT(*) FROM outbox_events WHERE published_at IS NOT NULL",
    )
    .await as f64;
    assert!(published >= 2.0, "the task's events were published");
    let [_, tasks, ..] = system.scrapes().await;
    assert_eq!(tasks.value("ates_relay_published_total"), published);
    assert_eq!(tasks.value("ates_outbox_oldest_age_seconds"), 0.0);
    assert_eq!(tasks.value("ates_relay_failures_total"), 0.0);

    // The close of the day: its payouts and their emails.
    let admin = system.auth.admin_token().await;
    let closed = system.accounting.closed_day(&admin).await;
    let payouts = closed.cycle.payments_count;
    assert_eq!(
        payouts,
        i64::from(reward > fee),
        "kesha is paid when in credit"
    );
    eventually(WAIT, "the payout emails", || async {
        (system.smtp.messages().len() == usize::try_from(payouts).unwrap()).then_some(())
    })
    .await;
    wait_for_value(
        &accounting_at,
        r#"ates_payout_emails_total{outcome="sent"}"#,
        payouts as f64,
    )
    .await;
    let [_, _, accounting, _] = system.scrapes().await;
    assert_eq!(accounting.value("ates_payouts_total"), payouts as f64);
    assert_eq!(
        accounting.value("ates_payout_cents_total"),
        closed.cycle.payments_total_cents as f64
    );
    assert_eq!(
        accounting.value(r#"ates_payout_emails_total{outcome="failed"}"#),
        0.0
    );

    // A forged event becomes one dead letter of each consumer of its stream.
    publish_forged_completion(&system.bus).await;
    let analytics_at = system.analytics.address.clone();
    // (analytics-api reads no `tasks.completed`: it counts it as `other`.)
    for (address, event) in [
        (&accounting_at, "tasks.completed"),
        (&analytics_at, "other"),
    ] {
        wait_for_value(address, "ates_dead_letters_waiting", 1.0).await;
        wait_for_value(
            address,
            &format!(r#"ates_consumer_events_total{{event="{event}",outcome="dead_lettered"}}"#),
            1.0,
        )
        .await;
        wait_for_value(address, r#"ates_consumer_pending{stream="tasks"}"#, 0.0).await;
    }
    let [_, tasks, ..] = system.scrapes().await;
    assert_eq!(
        tasks.value("ates_dead_letters_waiting"),
        0.0,
        "tasks-api does not read its own stream"
    );

    // Every name the alerts and the dashboard use has samples.
    let served: BTreeSet<String> = system
        .scrapes()
        .await
        .iter()
        .flat_map(Scrape::names)
        .collect();
    for file in ["deploy/prometheus/alerts.yml", "deploy/grafana/ates.json"] {
        let missing: Vec<String> = names_used_in(file)
            .into_iter()
            .filter(|name| !served.contains(name))
            .collect();
        assert!(
            missing.is_empty(),
            "{file} uses metrics no service serves: {missing:?}"
        );
    }
}

/// The trace id of a published event's `traceparent` header.
fn trace_of(headers: &async_nats::HeaderMap) -> Option<String> {
    headers
        .get("traceparent")
        .and_then(|value| trace_id_of(value.as_str()))
        .map(str::to_owned)
}

/// Every event of `domain` about `task_id` (in `data.task_id`), with its
/// trace id, once there are `count` of them.
async fn task_events(
    bus: &EventBus,
    domain: &str,
    task_id: &str,
    count: usize,
) -> Vec<(String, Option<String>)> {
    eventually(WAIT, "the task's events", || async {
        let events: Vec<(String, Option<String>)> = published_messages(bus, domain)
            .await
            .into_iter()
            .filter(|(event, _)| event["data"]["task_id"] == task_id)
            .map(|(event, headers)| {
                (
                    event["event_name"].as_str().unwrap().to_owned(),
                    trace_of(&headers),
                )
            })
            .collect();
        (events.len() == count).then_some(events)
    })
    .await
}

#[tokio::test]
async fn one_trace_follows_a_request_through_the_events_it_causes() {
    let system = System::start().await;
    let manager = system.popug("boss@popug.inc", "manager").await;
    system.popug("kesha@popug.inc", "worker").await;

    // A caller's trace is continued: the task's events in tasks-api and
    // what accounting made of them carry its trace id.
    let trace_id = format!("{:032x}", Uuid::new_v4().as_u128());
    let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    let response = system
        .tasks
        .client
        .post(system.tasks.url("/v1/tasks"))
        .bearer_auth(&manager.token)
        .header("traceparent", &traceparent)
        .json(&serde_json::json!({"title": "Follow me", "description": "traced"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let task: serde_json::Value = response.json().await.unwrap();
    let task_id = task["id"].as_str().unwrap();
    let expected = Some(trace_id.clone());
    let in_tasks = task_events(&system.bus, "tasks", task_id, 2).await;
    assert_eq!(
        in_tasks,
        vec![
            ("tasks.created".to_owned(), expected.clone()),
            ("tasks.assigned".to_owned(), expected.clone()),
        ]
    );
    let in_accounting = task_events(&system.bus, "accounting", task_id, 2).await;
    assert_eq!(
        in_accounting,
        vec![
            ("accounting.task_priced".to_owned(), expected.clone()),
            (
                "accounting.transaction_applied".to_owned(),
                expected.clone()
            ),
        ]
    );

    // A request without one starts a trace of its own, followed the same
    // way, and shared with no other request.
    let other = system.tasks.task(&manager.token, "Untraced").await;
    let other_id = other.id.to_string();
    let in_tasks = task_events(&system.bus, "tasks", &other_id, 2).await;
    let new_trace = in_tasks[0].1.clone().expect("a new trace");
    assert_ne!(new_trace, trace_id);
    assert!(
        in_tasks
            .iter()
            .all(|(_, trace)| trace.as_ref() == Some(&new_trace)),
        "{in_tasks:?}"
    );
    let in_accounting = task_events(&system.bus, "accounting", &other_id, 2).await;
    assert!(
        in_accounting
            .iter()
            .all(|(_, trace)| trace.as_ref() == Some(&new_trace)),
        "{in_accounting:?}"
    );

    // A malformed or hostile traceparent is no error: a new trace.
    for garbage in [
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "ff-zz-\u{e9}",
        &"9".repeat(4000),
    ] {
        let response = system
            .tasks
            .client
            .post(system.tasks.url("/v1/tasks"))
            .bearer_auth(&manager.token)
            .header("traceparent", garbage)
            .json(&serde_json::json!({"title": "Garbage trace", "description": ""}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{garbage:?}");
        let task: serde_json::Value = response.json().await.unwrap();
        let in_tasks = task_events(&system.bus, "tasks", task["id"].as_str().unwrap(), 2).await;
        let trace = in_tasks[0].1.clone().expect("a new trace");
        assert_ne!(trace, "0".repeat(32));
        assert!(![&trace_id, &new_trace].contains(&&trace));
    }
}

/// Runs `analytics-api dead-letters ARGS` with `settings`, as an operator
/// would beside the running service: success, standard output, standard
/// error.
async fn dead_letters_command(settings: &ServiceSettings, args: &[&str]) -> (bool, String, String) {
    let args: Vec<&str> = ["dead-letters"]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    let run = run_command(env!("CARGO_BIN_EXE_analytics-api"), settings, &args).await;
    (run.ok, run.stdout, run.stderr)
}

#[tokio::test]
async fn the_dead_letters_commands_list_show_replay_and_discard_beside_the_running_service() {
    let system = System::start().await;
    let analytics = &system.analytics;
    let config = &analytics.config;
    let (ok, out, err) = dead_letters_command(config, &["list"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("no dead letter waits"), "{out}");

    // A forged event: one dead letter, with its reason.
    let forged = publish_forged_completion(&system.bus).await;
    wait_for_value(&analytics.address, "ates_dead_letters_waiting", 1.0).await;
    let (ok, out, err) = dead_letters_command(config, &["list", "--json"]).await;
    assert!(ok, "{err}");
    let letters: Vec<serde_json::Value> = serde_json::from_str(&out).expect("JSON");
    assert_eq!(letters.len(), 1, "{out}");
    assert_eq!(letters[0]["event_id"], forged.event_id.to_string());
    assert_eq!(letters[0]["subject"], "tasks.completed.v1");
    let reason = letters[0]["reason"].as_str().unwrap();
    assert!(reason.contains("forged origin"), "{reason}");
    let sequence = letters[0]["sequence"].as_u64().unwrap().to_string();
    let (ok, out, _) = dead_letters_command(config, &["list"]).await;
    assert!(
        ok && out.contains("forged origin") && out.contains("1 dead letter(s) wait"),
        "{out}"
    );

    let (ok, out, err) = dead_letters_command(config, &["show", &sequence, "--json"]).await;
    assert!(ok, "{err}");
    let shown: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(shown["event"]["producer"], "evil-api");
    assert!(
        shown["headers"]["Ates-Dead-Letter-Reason"].is_string(),
        "{out}"
    );

    // Replayed, it is refused again by the same checks: a failure, and it
    // keeps waiting.
    let (ok, out, err) = dead_letters_command(config, &["replay", "--all"]).await;
    assert!(!ok, "{out}");
    assert!(
        out.contains("refused") && out.contains("forged origin"),
        "{out}"
    );
    assert!(err.contains("refused again"), "{err}");
    wait_for_value(&analytics.address, "ates_dead_letters_waiting", 1.0).await;

    // Discarded, it no longer waits.
    let (ok, out, err) =
        dead_letters_command(config, &["discard", &sequence, "--reason", "forged"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("discarded: forged"), "{out}");
    wait_for_value(&analytics.address, "ates_dead_letters_waiting", 0.0).await;
    let (ok, out, _) = dead_letters_command(config, &["list", "--json"]).await;
    assert!(ok);
    assert_eq!(out.trim(), "[]");
    let (ok, _, err) = dead_letters_command(config, &["show", &sequence]).await;
    assert!(!ok && err.contains("no dead letter"), "{err}");

    // Without the broker or the database: a clear failure.
    let mut elsewhere = analytics.config.clone();
    elsewhere.bus.nats_url = "nats://127.0.0.1:1".into();
    let (ok, _, err) = dead_letters_command(&elsewhere, &["list"]).await;
    assert!(!ok && err.contains("cannot reach NATS"), "{err}");
    let mut elsewhere = analytics.config.clone();
    elsewhere.database_url = "postgres://ates@127.0.0.1:1/missing".into();
    let (ok, _, err) = dead_letters_command(&elsewhere, &["list"]).await;
    assert!(!ok && err.contains("cannot open the database"), "{err}");
}

#[tokio::test]
async fn with_metrics_off_no_metrics_are_served() {
    let broker = ates_core::testing::TestBroker::start().await;
    let analytics = AnalyticsApp::spawn_with(&broker, "http://127.0.0.1:9/unused", |config| {
        config.metrics = false;
    })
    .await;
    let get = |path: &str| analytics.client.get(analytics.url(path)).send();
    assert_eq!(
        get("/metrics").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(get("/healthz").await.unwrap().status(), StatusCode::OK);
}
