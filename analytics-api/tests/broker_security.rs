//! The four services on a `nats-server` with authorization, each with its
//! own generated identity and the project's permission set: the whole flow
//! works, nobody but tasks-api can publish a task completion (so nobody
//! can pay themselves), and a service the broker refuses is not ready and
//! says why until the broker accepts it.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use accounting_api::routes::accounting::Transaction;
use accounting_api::testing::AccountingApp;
use analytics_api::testing::AnalyticsApp;
use async_nats::jetstream;
use ates_core::bus::{BusCredentials, BusTls, EventBus, Naming, Secret};
use ates_core::testing::{NatsServer, TestBroker, eventually, problem, published_events};
use auth_api::testing::TestApp as AuthApp;
use event_schemas::Envelope;
use event_schemas::accounting::TransactionKind;
use event_schemas::tasks::TaskCompletedV1;
use reqwest::StatusCode;
use serde_json::Value;
use tasks_api::testing::TasksApp;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

/// Tries to publish a forged completion as `bus`'s identity; `Err` when
/// the broker drops it (it never acks a publish the identity may not make).
async fn forge(bus: &EventBus, envelope: &Envelope<TaskCompletedV1>) -> Result<(), String> {
    let context = jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(2))
        .build(bus.client().clone());
    let subject = bus.naming().wire_subject(&Naming::event_subject(
        &envelope.event_name,
        envelope.event_version,
    ));
    let payload = serde_json::to_vec(envelope).unwrap();
    context
        .publish(subject, payload.into())
        .await
        .map_err(|error| error.to_string())?
        .await
        .map_err(|error| error.to_string())?;
    Ok(())
}

async fn connected(broker: &TestBroker, identity: &str) -> EventBus {
    let bus = EventBus::connect(&broker.bus_config(identity))
        .await
        .unwrap();
    eventually(WAIT, "the broker to accept the identity", || async {
        bus.is_connected().then_some(())
    })
    .await;
    bus
}

async fn transactions(accounting: &AccountingApp, token: &str, count: usize) -> Vec<Transaction> {
    eventually(WAIT, "the transactions in accounting", || async {
        let entries = accounting.my_transactions(token, None).await;
        (entries.len() >= count).then_some(entries)
    })
    .await
}

#[tokio::test]
async fn per_service_identities_carry_the_whole_flow_and_nobody_else_can_pay_themselves() {
    let auth = AuthApp::spawn_on(TestBroker::secured().await, |_| {}).await;
    let broker = &auth.broker;
    let tasks = TasksApp::spawn(broker, &auth.jwks_url()).await;
    let accounting = AccountingApp::spawn(broker, &auth.jwks_url()).await;
    let analytics = AnalyticsApp::spawn(broker, &auth.jwks_url()).await;

    let manager_id = auth.account_with_role("boss@popug.inc", "manager").await;
    tasks.wait_for_role(&manager_id, "manager").await;
    let manager = auth.access_token("boss@popug.inc").await;
    let kesha_id = auth.account_with_role("kesha@popug.inc", "worker").await;
    tasks.wait_for_account(&kesha_id, true).await;
    let kesha = auth.access_token("kesha@popug.inc").await;

    let paid = tasks.task(&manager, "Paid for real").await;
    let target = tasks.task(&manager, "Never completed").await;
    assert_eq!(paid.assignee_id.to_string(), kesha_id);
    assert_eq!(target.assignee_id.to_string(), kesha_id);
    let fees = transactions(&accounting, &kesha, 2).await;
    assert_eq!(fees.len(), 2);

    // A hand-made completion of the task assigned to kesha.
    let forged = Envelope::new(
        "tasks-api",
        TaskCompletedV1 {
            task_id: target.id,
            assignee_id: Uuid::parse_str(&kesha_id).unwrap(),
            completed_at: chrono::Utc::now(),
        },
    );
    // 1. No credentials: the broker does not even let it connect.
    let anonymous = async_nats::ConnectOptions::new()
        .connect(broker.url())
        .await
        .expect_err("an anonymous client is refused");
    assert_eq!(
        anonymous.kind(),
        async_nats::ConnectErrorKind::AuthorizationViolation
    );
    // 2. A valid identity without publish rights on tasks.>.
    let accounting_identity = connected(broker, "accounting-api").await;
    assert!(forge(&accounting_identity, &forged).await.is_err());
    // 3. The analytics-api identity, which may publish nothing.
    let analytics_identity = connected(broker, "analytics-api").await;
    assert!(forge(&analytics_identity, &forged).await.is_err());

    // The sentinel: a real completion, published after the forged attempts,
    // arrives and is applied.
    assert_eq!(
        tasks.complete(&kesha, &paid.id.to_string()).await.status(),
        StatusCode::OK
    );
    let log = transactions(&accounting, &kesha, 3).await;
    assert_eq!(log.len(), 3, "{log:?}");
    assert_eq!(log[2].kind, TransactionKind::TaskReward);
    assert_eq!(log[2].task.as_ref().map(|task| task.id), Some(paid.id));
    let total: i64 = log.iter().map(|entry| entry.amount_cents).sum();
    let me = accounting.me(&kesha).await;
    assert_eq!(me.balance_cents, total, "one reward, two fees");
    let completions: Vec<Value> = published_events(&auth.bus, "tasks")
        .await
        .into_iter()
        .filter(|event| event["event_name"] == "tasks.completed")
        .collect();
    assert_eq!(completions.len(), 1, "{completions:?}");
    assert_eq!(completions[0]["data"]["task_id"], paid.id.to_string());

    // Analytics got the accounting events with its own identity too.
    let admin = auth.admin_token().await;
    eventually(WAIT, "the dashboard to show the day's earnings", || async {
        let today = analytics.today(&admin).await;
        (today.management_earnings_cents == -total).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_service_the_broker_refuses_is_not_ready_and_says_why_until_it_accepts() {
    let server =
        NatsServer::start_with(&["--user", "analytics-api", "--pass", "the-right-one"]).await;
    let url = server.url();
    // The service comes with a stale password.
    let mut broker = TestBroker::on(
        server,
        BusCredentials::UserPassword {
            user: "analytics-api".into(),
            password: Secret::new("an-old-one"),
        },
        BusTls::default(),
    );
    let analytics = AnalyticsApp::spawn(&broker, "http://127.0.0.1:9/jwks.json").await;
    let readyz = || async {
        analytics
            .client
            .get(analytics.url("/readyz"))
            .send()
            .await
            .unwrap()
    };
    // Until the first attempt is answered the broker is only unreachable;
    // then the refusal is the reason.
    let body = eventually(WAIT, "/readyz to say the broker refuses", || async {
        let response = readyz().await;
        assert_eq!(
            response.headers().get("retry-after").map(|v| v.as_bytes()),
            Some(&b"1"[..]),
            "every 503 says when to come back"
        );
        let body = problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
        body["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("refused"))
            .then_some(body)
    })
    .await;
    assert_eq!(
        body["detail"],
        format!("broker (NATS at {url}) refused the credentials: authorization violation")
    );
    assert!(!body.to_string().contains("an-old-one"));
    let alive = analytics
        .client
        .get(analytics.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(alive.status(), StatusCode::OK, "the process keeps running");

    // The operator gives the broker the password the service has.
    let server = broker.server();
    server.stop().await;
    server.set_args(&["--user", "analytics-api", "--pass", "an-old-one"]);
    server.resume().await;
    eventually(WAIT, "/readyz to be ready", || async {
        (readyz().await.status() == StatusCode::OK).then_some(())
    })
    .await;
}
