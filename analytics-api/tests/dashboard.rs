//! analytics-api over HTTP with real events on a real broker: each
//! endpoint, period edges in the business time zone, the admin-only rule,
//! agreement with accounting-api on one event history, and a full rebuild.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use accounting_api::testing::AccountingApp;
use analytics_api::db::ledger_entry;
use analytics_api::routes::dashboard::MostExpensive;
use analytics_api::testing::AnalyticsApp;
use ates_core::bus::EventBus;
use ates_core::testing::{eventually, problem, publish_event, run_command};
use auth_api::testing::TestApp as AuthApp;
use chrono::{DateTime, TimeZone, Utc};
use event_schemas::Envelope;
use event_schemas::accounting::{TransactionAppliedV1, TransactionKind};
use event_schemas::tasks::{TaskAssignedV1, TaskCompletedV1, TaskCreatedV2, TaskStatus};
use reqwest::StatusCode;
use sea_orm::{EntityTrait, PaginatorTrait};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(20);

async fn entries(app: &AnalyticsApp) -> u64 {
    ledger_entry::Entity::find().count(&app.db).await.unwrap()
}

/// Waits until analytics holds exactly `count` ledger entries.
async fn wait_for_entries(app: &AnalyticsApp, count: u64) {
    eventually(
        WAIT,
        &format!("analytics to hold exactly {count} ledger entries"),
        || async { (entries(app).await == count).then_some(()) },
    )
    .await;
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

/// Publishes a task (for its title) and its reward entry.
async fn completed(bus: &EventBus, title: &str, reward_cents: i64, at: DateTime<Utc>) -> Uuid {
    let task_id = Uuid::now_v7();
    let account_id = Uuid::now_v7();
    publish_event(
        bus,
        &Envelope::at(
            "tasks-api",
            at,
            TaskCreatedV2 {
                task_id,
                title: title.into(),
                jira_id: Some(format!("POPUG-{}", reward_cents / 100)),
                description: String::new(),
                status: TaskStatus::Open,
                assignee_id: account_id,
                created_at: at,
            },
        ),
    )
    .await;
    publish_event(
        bus,
        &Envelope::at(
            "accounting-api",
            at,
            TransactionAppliedV1 {
                transaction_id: Uuid::now_v7(),
                account_id,
                kind: TransactionKind::TaskReward,
                amount_cents: reward_cents,
                task_id: Some(task_id),
                billing_cycle_id: Uuid::now_v7(),
                created_at: at,
            },
        ),
    )
    .await;
    task_id
}

#[tokio::test]
async fn only_admins_see_the_dashboard() {
    let auth = AuthApp::spawn().await;
    let analytics = AnalyticsApp::spawn(&auth.broker, &auth.jwks_url()).await;
    auth.account_with_role("kesha@popug.inc", "accountant")
        .await;
    let accountant = auth.access_token("kesha@popug.inc").await;
    let admin = auth.admin_token().await;
    for path in [
        "/v1/dashboard/today",
        "/v1/most-expensive-task?period=week",
        "/v1/most-expensive-tasks/daily",
    ] {
        problem(
            analytics.get(path, &accountant).await,
            StatusCode::FORBIDDEN,
        )
        .await;
        problem(
            analytics
                .client
                .get(analytics.url(path))
                .send()
                .await
                .unwrap(),
            StatusCode::UNAUTHORIZED,
        )
        .await;
        assert_eq!(
            analytics.get(path, &admin).await.status(),
            StatusCode::OK,
            "{path}"
        );
    }
    let empty = analytics.today(&admin).await;
    assert_eq!(empty.management_earnings_cents, 0);
    assert_eq!(empty.negative_balance_accounts, 0);
    problem(
        analytics
            .get("/v1/most-expensive-task?period=year", &admin)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    problem(
        analytics
            .get(
                "/v1/most-expensive-tasks/daily?from=2026-03-05&to=2026-03-01",
                &admin,
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    problem(
        analytics
            .get(
                "/v1/most-expensive-tasks/daily?from=2025-01-01&to=2026-03-01",
                &admin,
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}

#[tokio::test]
async fn a_demoted_admin_loses_every_analytics_endpoint_with_its_old_token() {
    let auth = AuthApp::spawn().await;
    let analytics = AnalyticsApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let id = auth.account_with_role("chief@popug.inc", "admin").await;
    let old_token = auth.access_token("chief@popug.inc").await;
    analytics.wait_for_role(&id, "admin").await;
    let paths = [
        "/v1/dashboard/today",
        "/v1/most-expensive-task?period=week",
        "/v1/most-expensive-tasks/daily",
    ];
    for path in paths {
        assert_eq!(
            analytics.get(path, &old_token).await.status(),
            StatusCode::OK,
            "{path} before the demotion"
        );
    }
    auth.set_role(&id, "accountant").await;
    analytics.wait_for_role(&id, "accountant").await;
    for path in paths {
        let body = problem(analytics.get(path, &old_token).await, StatusCode::FORBIDDEN).await;
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("your role is now accountant"),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn a_task_title_changes_only_with_a_newer_revision() {
    use event_schemas::tasks::TaskCreatedV3;
    let auth = AuthApp::spawn().await;
    let analytics = AnalyticsApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let bus = EventBus::connect(&auth.broker.bus_config("analytics-test"))
        .await
        .unwrap();
    let at = Utc::now();
    let task_id = Uuid::now_v7();
    let created = |title: &str, revision: i64| TaskCreatedV3 {
        task_id,
        title: title.into(),
        jira_id: None,
        description: String::new(),
        status: TaskStatus::Open,
        assignee_id: Uuid::now_v7(),
        created_at: at,
        revision,
    };
    let publish_created = |data: TaskCreatedV3| {
        let bus = bus.clone();
        async move { publish_event(&bus, &Envelope::at("tasks-api", at, data)).await }
    };
    publish_created(created("Fix the nest", 2)).await;
    // A copy at the same revision, an older revision, and an event from
    // before revisions change nothing; a sentinel task shows they were
    // all applied.
    publish_created(created("Copy of the nest", 2)).await;
    publish_created(created("Old nest", 1)).await;
    publish_event(
        &bus,
        &Envelope::at("tasks-api", at, created("Unrevisioned nest", 9).into_v2()),
    )
    .await;
    let sentinel = Uuid::now_v7();
    publish_created(TaskCreatedV3 {
        task_id: sentinel,
        ..created("Sentinel", 1)
    })
    .await;
    let title_of = |id: Uuid| {
        let db = analytics.db.clone();
        async move {
            analytics_api::db::task::Entity::find_by_id(id)
                .one(&db)
                .await
                .unwrap()
                .map(|task| task.title)
        }
    };
    eventually(WAIT, "the sentinel task", || title_of(sentinel)).await;
    assert_eq!(title_of(task_id).await.as_deref(), Some("Fix the nest"));
    publish_created(created("Fix the nest again", 3)).await;
    eventually(WAIT, "the newer title", || async {
        (title_of(task_id).await.as_deref() == Some("Fix the nest again")).then_some(())
    })
    .await;
}

#[tokio::test]
async fn most_expensive_tasks_respect_day_week_and_month_edges_in_the_business_zone() {
    let auth = AuthApp::spawn().await;
    let analytics = AnalyticsApp::spawn_with(&auth.broker, &auth.jwks_url(), |config| {
        config.business_timezone = chrono_tz::Europe::Moscow;
    })
    .await;
    let bus = EventBus::connect(&auth.broker.bus_config("analytics-test"))
        .await
        .unwrap();
    let admin = auth.admin_token().await;
    // Moscow is UTC+3. 2026-03-01 is a Sunday, 2026-03-02 a Monday.
    let d = completed(&bus, "Feed the birds", 3500, utc(2026, 2, 28, 12, 0)).await;
    let a = completed(&bus, "Late Sunday", 3000, utc(2026, 3, 1, 20, 59)).await; // 23:59 Sunday
    let b = completed(&bus, "Monday midnight", 4000, utc(2026, 3, 1, 21, 0)).await; // 00:00 Monday
    let e = completed(&bus, "Same reward, later", 4000, utc(2026, 3, 3, 9, 0)).await;
    let c = completed(&bus, "Wednesday", 2500, utc(2026, 3, 4, 10, 0)).await;
    wait_for_entries(&analytics, 5).await;
    // Titles come from the tasks stream, consumed on its own.
    eventually(WAIT, "the task titles", || async {
        let titles = analytics_api::db::task::Entity::find()
            .count(&analytics.db)
            .await
            .unwrap();
        (titles >= 5).then_some(())
    })
    .await;

    let ask = |query: &'static str| analytics.most_expensive_task(&admin, query);
    let task_of = |answer: MostExpensive| answer.task.map(|task| task.id);
    let sunday = ask("period=day&date=2026-03-01").await;
    let late_sunday = sunday.task.as_ref().unwrap();
    assert_eq!(late_sunday.id, a, "23:59 Moscow is still Sunday");
    assert_eq!(late_sunday.title.as_deref(), Some("Late Sunday"));
    assert_eq!(late_sunday.reward_cents, 3000);
    assert_eq!(task_of(ask("period=day&date=2026-03-02").await), Some(b));
    let week = ask("period=week&date=2026-03-04").await;
    assert_eq!(
        (week.from.to_string(), week.to.to_string()),
        ("2026-03-02".to_owned(), "2026-03-08".to_owned())
    );
    assert_eq!(task_of(week), Some(b), "ties go to the earlier completion");
    assert_eq!(
        task_of(ask("period=week&date=2026-03-01").await),
        Some(d),
        "the week of Sunday 1 March starts on 23 February"
    );
    assert_eq!(task_of(ask("period=month&date=2026-02-10").await), Some(d));
    assert_eq!(task_of(ask("period=month&date=2026-03-31").await), Some(b));
    assert_eq!(task_of(ask("period=day&date=2026-03-05").await), None);

    const DAILY: &str = "from=2026-02-28&to=2026-03-05";
    let daily = analytics.most_expensive_daily(&admin, DAILY).await;
    let rows: Vec<(String, Option<Uuid>)> = daily
        .iter()
        .map(|row| {
            let task = row.task.as_ref().map(|task| task.id);
            (row.date.to_string(), task)
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("2026-02-28".into(), Some(d)),
            ("2026-03-01".into(), Some(a)),
            ("2026-03-02".into(), Some(b)),
            ("2026-03-03".into(), Some(e)),
            ("2026-03-04".into(), Some(c)),
            ("2026-03-05".into(), None),
        ]
    );

    // A full rebuild from the streams gives identical answers.
    let before_week = serde_json::to_value(ask("period=week&date=2026-03-04").await).unwrap();
    let daily = serde_json::to_value(daily).unwrap();
    let rebuild = |config| async move {
        run_command(env!("CARGO_BIN_EXE_analytics-api"), &config, &["rebuild"]).await
    };
    let refused = rebuild(analytics.config.clone()).await;
    assert!(
        !refused.ok && refused.stderr.contains("is consuming the"),
        "{refused:?}"
    );
    let (database, config) = analytics.stop().await;
    let rebuilt = rebuild(config.clone()).await;
    assert!(rebuilt.ok, "{rebuilt:?}");
    assert!(rebuilt.stdout.contains("tasks: replayed"), "{rebuilt:?}");
    // The command returns once the streams are replayed: the answers are
    // whole at once.
    let analytics = AnalyticsApp::start_on(database, config).await;
    let after_daily = analytics.most_expensive_daily(&admin, DAILY).await;
    assert_eq!(serde_json::to_value(after_daily).unwrap(), daily);
    let after_week = analytics
        .most_expensive_task(&admin, "period=week&date=2026-03-04")
        .await;
    assert_eq!(serde_json::to_value(after_week).unwrap(), before_week);
}

#[tokio::test]
async fn the_dashboard_agrees_with_accounting_on_one_event_history() {
    let auth = AuthApp::spawn().await;
    let accounting = AccountingApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let analytics = AnalyticsApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let bus = EventBus::connect(&auth.broker.bus_config("agreement-test"))
        .await
        .unwrap();
    let admin = auth.admin_token().await;

    // One history of task events, fed to accounting; analytics reads what
    // accounting makes of it.
    let workers: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
    let now = Utc::now();
    let mut money = 0u64;
    for index in 0..16 {
        let task_id = Uuid::now_v7();
        let worker = workers[index % workers.len()];
        publish_event(
            &bus,
            &Envelope::at(
                "tasks-api",
                now,
                TaskCreatedV2 {
                    task_id,
                    title: format!("Task {index}"),
                    jira_id: None,
                    description: String::new(),
                    status: TaskStatus::Open,
                    assignee_id: worker,
                    created_at: now,
                },
            ),
        )
        .await;
        publish_event(
            &bus,
            &Envelope::at(
                "tasks-api",
                now,
                TaskAssignedV1 {
                    task_id,
                    assignee_id: worker,
                    previous_assignee_id: None,
                    assigned_at: now,
                },
            ),
        )
        .await;
        money += 1;
        if index % 3 != 0 {
            publish_event(
                &bus,
                &Envelope::at(
                    "tasks-api",
                    now,
                    TaskCompletedV1 {
                        task_id,
                        assignee_id: worker,
                        completed_at: now,
                    },
                ),
            )
            .await;
            money += 1;
        }
    }
    wait_for_entries(&analytics, money).await;

    let compare = || async {
        let stats = accounting.management(&admin, "").await;
        let balances = accounting.balances(&admin).await;
        let negative = balances.iter().filter(|row| row.balance_cents < 0).count();
        let today = analytics.today(&admin).await;
        (
            stats[0].earnings_cents,
            u64::try_from(negative).unwrap(),
            today,
        )
    };
    let (earnings, negative, today) = compare().await;
    assert_eq!(today.management_earnings_cents, earnings);
    assert_eq!(today.negative_balance_accounts, negative);
    assert!(negative > 0 || earnings != 0);

    // After a close, payouts move balances; the answers still agree once
    // analytics holds exactly one more entry per payout.
    let positive = accounting
        .balances(&admin)
        .await
        .iter()
        .filter(|row| row.balance_cents > 0)
        .count();
    assert!(positive > 0, "someone earned more than their fees");
    let close = accounting.closed_day(&admin).await;
    let payouts = u64::try_from(close.cycle.payments_count).unwrap();
    assert_eq!(
        payouts,
        u64::try_from(positive).unwrap(),
        "one payout per positive balance"
    );
    eventually(WAIT, "every payout in analytics", || async {
        (entries(&analytics).await == money + payouts).then_some(())
    })
    .await;
    let (earnings, negative, today) = compare().await;
    assert_eq!(
        today.management_earnings_cents, earnings,
        "payouts are not earnings"
    );
    assert_eq!(today.negative_balance_accounts, negative);
}

#[test]
fn the_committed_openapi_document_matches_the_code() {
    ates_core::testing::assert_committed_document(
        "analytics-api.json",
        &ates_core::service::openapi::<analytics_api::AnalyticsApi>(),
    );
}

#[tokio::test]
async fn an_admin_seen_deactivated_is_refused_with_the_old_token() {
    let auth = AuthApp::spawn().await;
    let analytics = AnalyticsApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let chief = auth.popug("chief@popug.inc", "admin").await;
    analytics.wait_for_role(&chief.id, "admin").await;
    let paths = ["/v1/dashboard/today", "/v1/most-expensive-task"];
    for path in paths {
        let response = analytics.get(path, &chief.token).await;
        assert_eq!(response.status(), StatusCode::OK, "{path} before");
    }
    auth.deactivate(&chief.id).await;
    analytics.wait_for_account(&chief.id, false).await;
    for path in paths {
        problem(
            analytics.get(path, &chief.token).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    // Only the deactivated admin is refused.
    let bootstrap = auth.admin_token().await;
    let response = analytics.get("/v1/dashboard/today", &bootstrap).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn out_of_order_and_duplicate_account_events_end_in_the_newest_state() {
    let auth = AuthApp::spawn().await;
    let analytics = AnalyticsApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let bus = EventBus::connect(&auth.broker.bus_config("analytics-test"))
        .await
        .unwrap();
    ates_core::testing::assert_late_account_events_never_win(&bus, &analytics).await;
}
