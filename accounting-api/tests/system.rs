//! accounting-api with real auth-api and tasks-api on one JetStream broker:
//! fees, rewards, management earnings, closing the day with emails to a
//! real SMTP listener, and the role checks.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use accounting_api::db::billing_cycle::CycleStatus;
use accounting_api::db::payout_email;
use accounting_api::routes::accounting::{MyAccount, Transaction, TransactionPage};
use accounting_api::testing::{AccountingApp, SmtpSink};
use ates_core::bus::EventBus;
use ates_core::testing::{eventually, problem, published_events};
use auth_api::testing::{Popug, TestApp as AuthApp};
use event_schemas::accounting::TransactionKind;
use reqwest::StatusCode;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use tasks_api::testing::TasksApp;

const WAIT: Duration = Duration::from_secs(20);

struct System {
    auth: AuthApp,
    tasks: TasksApp,
    accounting: AccountingApp,
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
        let bus = EventBus::connect(&auth.broker.bus_config("accounting-test"))
            .await
            .unwrap();
        Self {
            auth,
            tasks,
            accounting,
            smtp,
            bus,
        }
    }

    /// A popug of `role` whom tasks-api can give tasks to (or not).
    async fn popug(&self, email: &str, role: &str) -> Popug {
        let popug = self.auth.popug(email, role).await;
        self.tasks.wait_for_account(&popug.id, true).await;
        self.tasks.wait_for_role(&popug.id, role).await;
        popug
    }

    /// The transactions of `who` today, once accounting has `count` of them.
    async fn log(&self, who: &Popug, count: usize) -> Vec<Transaction> {
        eventually(WAIT, "transactions in accounting", || async {
            let log = self.accounting.my_transactions(&who.token, None).await;
            (log.len() >= count).then_some(log)
        })
        .await
    }

    async fn me(&self, who: &Popug) -> MyAccount {
        self.accounting.me(&who.token).await
    }
}

#[tokio::test]
async fn fees_at_each_assignment_rewards_at_completion_and_management_earnings() {
    let system = System::start().await;
    let manager = system.popug("boss@popug.inc", "manager").await;
    let kesha = system.popug("kesha@popug.inc", "worker").await;
    let task = system
        .tasks
        .create_task(
            &manager.token,
            &json!({"title": "Fix the nest", "jira_id": "POPUG-42", "description": "It leaks."}),
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    let task_id = task["id"].as_str().unwrap();

    let first = system.log(&kesha, 1).await;
    assert_eq!(first[0].kind, TransactionKind::AssignmentFee);
    let fee = -first[0].amount_cents;
    assert!((1000..=2000).contains(&fee) && fee % 100 == 0, "fee {fee}");
    assert_eq!(
        first[0].task.as_ref().unwrap().id.to_string(),
        task["id"].as_str().unwrap()
    );

    assert_eq!(
        system.tasks.shuffle(&manager.token).await.status(),
        StatusCode::OK
    );
    let second = system.log(&kesha, 2).await;
    assert_eq!(second[1].kind, TransactionKind::AssignmentFee);
    assert_eq!(second[1].amount_cents, -fee, "the price never changes");

    system.tasks.complete(&kesha.token, task_id).await;
    let log = system.log(&kesha, 3).await;
    assert_eq!(log[2].kind, TransactionKind::TaskReward);
    let reward = log[2].amount_cents;
    assert!(
        (2000..=4000).contains(&reward) && reward % 100 == 0,
        "reward {reward}"
    );
    let titled = eventually(WAIT, "the task's title in the log", || async {
        let log = system.log(&kesha, 3).await;
        let title = log[2].task.as_ref().and_then(|task| task.title.clone());
        (title.as_deref() == Some("Fix the nest")).then_some(log)
    })
    .await;
    let titled = titled[2].task.as_ref().unwrap();
    assert_eq!(titled.jira_id.as_deref(), Some("POPUG-42"));
    assert_eq!(titled.description.as_deref(), Some("It leaks."));

    let me = system.me(&kesha).await;
    assert_eq!(me.balance_cents, reward - 2 * fee);
    assert_eq!(me.today.fees_cents, -2 * fee);
    assert_eq!(me.today.rewards_cents, reward);

    let accountant = system.popug("money@popug.inc", "accountant").await;
    let stats = system.accounting.management(&accountant.token, "").await;
    assert_eq!(
        stats[0].earnings_cents,
        2 * fee - reward,
        "-(rewards + fees), fees negative"
    );
    let today = chrono::Utc::now().date_naive();
    let yesterday = today.pred_opt().unwrap();
    let range = system
        .accounting
        .management(&accountant.token, &format!("from={yesterday}&to={today}"))
        .await;
    let range: Vec<_> = range
        .iter()
        .map(|day| (day.date, day.earnings_cents))
        .collect();
    assert_eq!(range, vec![(yesterday, 0), (today, 2 * fee - reward)]);
    problem(
        system
            .accounting
            .get(
                &format!("/v1/stats/management?from={today}&to={yesterday}"),
                &accountant.token,
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    problem(
        system
            .accounting
            .get(
                "/v1/stats/management?from=2020-01-01&to=2026-01-01",
                &accountant.token,
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    problem(
        system
            .accounting
            .get("/v1/stats/management?from=yesterday", &accountant.token)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    let accounting_events = published_events(&system.bus, "accounting").await;
    let priced: Vec<&Value> = accounting_events
        .iter()
        .filter(|e| e["event_name"] == "accounting.task_priced")
        .collect();
    assert_eq!(priced.len(), 1, "priced once");
    assert_eq!(priced[0]["data"]["assignment_fee_cents"], json!(fee));
    assert_eq!(priced[0]["data"]["reward_cents"], json!(reward));
    let applied = eventually(WAIT, "three transaction events", || async {
        let events: Vec<Value> = published_events(&system.bus, "accounting")
            .await
            .into_iter()
            .filter(|e| e["event_name"] == "accounting.transaction_applied")
            .collect();
        (events.len() >= 3).then_some(events)
    })
    .await;
    assert_eq!(applied.len(), 3);
}

#[tokio::test]
async fn closing_the_day_pays_positive_balances_once_and_carries_negative_ones() {
    let system = System::start().await;
    let manager = system.popug("boss@popug.inc", "manager").await;
    let earner = system.popug("kesha@popug.inc", "worker").await;
    let mut task_ids = Vec::new();
    for index in 0..3 {
        let task = system
            .tasks
            .task(&manager.token, &format!("Task {index}"))
            .await;
        task_ids.push(task.id.to_string());
    }
    for id in &task_ids {
        system.tasks.complete(&earner.token, id).await;
    }
    // Three rewards of at least $20 beat three fees of at most $20.
    let debtor = system.popug("rio@popug.inc", "worker").await;
    // Only the debtor is eligible now: make the earner a manager.
    system.auth.set_role(&earner.id, "manager").await;
    let admin = system.auth.admin_token().await;
    system.tasks.wait_for_role(&earner.id, "manager").await;
    system.tasks.task(&manager.token, "Debt").await;
    system.log(&earner, 6).await;
    system.log(&debtor, 1).await;
    let earned = system.me(&earner).await.balance_cents;
    let owed = system.me(&debtor).await.balance_cents;
    assert!(earned > 0 && owed < 0);

    problem(
        system.accounting.close_day(&manager.token).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let closed = system.accounting.closed_day(&admin).await;
    assert_eq!(closed.cycle.status, CycleStatus::Closed);
    assert_eq!(closed.cycle.payments_count, 1);
    assert_eq!(closed.cycle.payments_total_cents, earned);
    assert_eq!(closed.negative_balances_carried, 1);

    // The earner's token still names the worker role; balances are their own.
    assert_eq!(system.me(&earner).await.balance_cents, 0);
    assert_eq!(
        system.me(&debtor).await.balance_cents,
        owed,
        "negative balances carry over"
    );
    let log = system.log(&earner, 7).await;
    assert_eq!(log[6].kind, TransactionKind::Payout);
    assert_eq!(log[6].amount_cents, -earned);
    assert!(log[6].task.is_none());

    let mails = eventually(WAIT, "the payout email", || async {
        let mails = system.smtp.messages();
        (!mails.is_empty()).then_some(mails)
    })
    .await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, vec![earner.email.clone()]);
    let dollars = accounting_api::mailer::dollars(earned);
    assert!(
        mails[0].data.contains(&dollars),
        "the amount {dollars} is in the email: {}",
        mails[0].data
    );

    // A second close: a new cycle with nothing to pay; no second email.
    // Emails are written with their payout, in the close's transaction,
    // which has committed when the close answers: the one email row is
    // all the mailer will ever send.
    let again = system.accounting.closed_day(&admin).await;
    assert_eq!(again.cycle.payments_count, 0);
    assert_ne!(again.cycle.id, closed.cycle.id);
    let emails = payout_email::Entity::find()
        .count(&system.accounting.db)
        .await
        .unwrap();
    assert_eq!(emails, 1, "one email for one payout");
    assert_eq!(system.smtp.messages().len(), 1);

    let statuses: Vec<CycleStatus> = system
        .accounting
        .cycles(&admin)
        .await
        .iter()
        .map(|cycle| cycle.status)
        .collect();
    assert_eq!(
        statuses,
        vec![CycleStatus::Open, CycleStatus::Closed, CycleStatus::Closed],
        "always exactly one open cycle"
    );
    let payments = eventually(WAIT, "the payment event", || async {
        let events: Vec<Value> = published_events(&system.bus, "accounting")
            .await
            .into_iter()
            .filter(|e| e["event_name"] == "accounting.payment_made")
            .collect();
        (!events.is_empty()).then_some(events)
    })
    .await;
    assert_eq!(payments[0]["data"]["amount_cents"], json!(earned));
    let closes = eventually(WAIT, "two close events", || async {
        let events: Vec<Value> = published_events(&system.bus, "accounting")
            .await
            .into_iter()
            .filter(|e| e["event_name"] == "accounting.billing_cycle_closed")
            .collect();
        (events.len() == 2).then_some(events)
    })
    .await;
    assert_eq!(closes[0]["data"]["payments_count"], 1);
}

#[tokio::test]
async fn workers_see_only_their_own_account() {
    let system = System::start().await;
    let worker = system.popug("kesha@popug.inc", "worker").await;
    let accountant = system.popug("money@popug.inc", "accountant").await;
    let other = format!("/v1/accounts/{}/transactions", accountant.id);
    problem(
        system.accounting.get("/v1/accounts", &worker.token).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    problem(
        system.accounting.get(&other, &worker.token).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    problem(
        system
            .accounting
            .get("/v1/billing-cycles", &worker.token)
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    problem(
        system
            .accounting
            .get("/v1/stats/management", &worker.token)
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    problem(
        system.accounting.close_day(&accountant.token).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    problem(
        system
            .accounting
            .client
            .get(system.accounting.url("/v1/me"))
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    problem(
        system
            .accounting
            .get("/v1/me/transactions?date=03.03.2026", &worker.token)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    let balances = eventually(WAIT, "the accounts in accounting", || async {
        let balances = system.accounting.balances(&accountant.token).await;
        (balances.len() >= 3).then_some(balances)
    })
    .await;
    assert!(
        balances
            .iter()
            .any(|row| row.email.as_deref() == Some("kesha@popug.inc") && row.balance_cents == 0)
    );
    let log = system
        .accounting
        .get(
            &format!("/v1/accounts/{}/transactions?date=2026-03-03", worker.id),
            &accountant.token,
        )
        .await;
    assert_eq!(log.status(), StatusCode::OK);
    let log: TransactionPage = log.json().await.unwrap();
    assert_eq!(log.items, []);
    assert_eq!(log.next_cursor, None);
}

/// Every admin- and accountant-only request of accounting-api, with the
/// roles it is open to.
fn management_requests(worker_id: &str) -> Vec<(reqwest::Method, String, &'static [&'static str])> {
    use reqwest::Method;
    const BOTH: &[&str] = &["admin", "accountant"];
    vec![
        (Method::GET, "/v1/accounts".into(), BOTH),
        (
            Method::GET,
            format!("/v1/accounts/{worker_id}/transactions"),
            BOTH,
        ),
        (Method::GET, "/v1/stats/management".into(), BOTH),
        (Method::GET, "/v1/billing-cycles".into(), BOTH),
        (Method::POST, "/v1/billing-cycles/close".into(), &["admin"]),
    ]
}

#[tokio::test]
async fn demoted_admins_and_accountants_lose_every_management_endpoint_with_their_old_tokens() {
    let system = System::start().await;
    let worker = system.popug("kesha@popug.inc", "worker").await;
    let admin = system.popug("chief@popug.inc", "admin").await;
    let accountant = system.popug("money@popug.inc", "accountant").await;
    for (role, who) in [("admin", &admin), ("accountant", &accountant)] {
        system.accounting.wait_for_role(&who.id, role).await;
    }
    let call = |method: reqwest::Method, path: String, token: String| {
        let request = system
            .accounting
            .client
            .request(method, system.accounting.url(&path))
            .bearer_auth(token);
        async move { request.send().await.unwrap() }
    };
    let requests = management_requests(&worker.id);
    for (role, who) in [("admin", &admin), ("accountant", &accountant)] {
        for (method, path, roles) in &requests {
            if roles.contains(&role) {
                let response = call(method.clone(), path.clone(), who.token.clone()).await;
                assert_eq!(
                    response.status(),
                    StatusCode::OK,
                    "{role} {method} {path} before"
                );
            }
        }
    }
    for (role, who) in [("admin", &admin), ("accountant", &accountant)] {
        system.auth.set_role(&who.id, "worker").await;
        system.accounting.wait_for_role(&who.id, "worker").await;
        for (method, path, roles) in &requests {
            let response = call(method.clone(), path.clone(), who.token.clone()).await;
            let body = problem(response, StatusCode::FORBIDDEN).await;
            if roles.contains(&role) {
                assert!(
                    body["detail"].as_str().unwrap().contains("now worker"),
                    "{method} {path}: {body}"
                );
            }
        }
    }
    // A worker promoted to accountant still needs a new token: its old
    // one says worker.
    system.auth.set_role(&worker.id, "accountant").await;
    system
        .accounting
        .wait_for_role(&worker.id, "accountant")
        .await;
    problem(
        system.accounting.get("/v1/accounts", &worker.token).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let fresh = system.auth.access_token("kesha@popug.inc").await;
    assert_eq!(
        system.accounting.get("/v1/accounts", &fresh).await.status(),
        StatusCode::OK
    );
}

#[test]
fn the_committed_openapi_document_matches_the_code() {
    ates_core::testing::assert_committed_document(
        "accounting-api.json",
        &ates_core::service::openapi::<accounting_api::AccountingApi>(),
    );
}

#[tokio::test]
async fn accounts_seen_deactivated_are_refused_with_their_old_tokens() {
    let system = System::start().await;
    let worker = system.popug("kesha@popug.inc", "worker").await;
    let admin = system.popug("chief@popug.inc", "admin").await;
    system.accounting.wait_for_role(&admin.id, "admin").await;
    let requests = [
        ("/v1/me", &worker),
        ("/v1/me/transactions", &worker),
        ("/v1/accounts", &admin),
        ("/v1/billing-cycles", &admin),
    ];
    for (path, who) in requests {
        let response = system.accounting.get(path, &who.token).await;
        assert_eq!(response.status(), StatusCode::OK, "{path} before");
    }
    for who in [&worker, &admin] {
        system.auth.deactivate(&who.id).await;
        system.accounting.wait_for_account(&who.id, false).await;
    }
    for (path, who) in requests {
        problem(
            system.accounting.get(path, &who.token).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    // Only they are refused: the bootstrap admin still reads.
    let bootstrap = system.auth.admin_token().await;
    let response = system.accounting.get("/v1/accounts", &bootstrap).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn out_of_order_and_duplicate_account_events_end_in_the_newest_state() {
    let system = System::start().await;
    ates_core::testing::assert_late_account_events_never_win(&system.bus, &system.accounting).await;
}
