//! accounting-api's lists page by cursor: balances (with search, and with
//! balances whose account's events have not arrived), billing cycles and
//! audit logs; a cursor of another list or an altered one is a 422.

#![allow(clippy::unwrap_used)]

use accounting_api::db::{billing_cycle, transaction};
use accounting_api::routes::accounting::{BalancePage, CyclePage, TransactionPage};
use accounting_api::testing::AccountingApp;
use ates_core::testing::problem;
use auth_api::testing::TestApp as AuthApp;
use reqwest::StatusCode;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

#[tokio::test]
async fn balances_page_in_account_order_with_unknown_accounts_and_search() {
    let auth = AuthApp::spawn().await;
    let accounting = AccountingApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let admin = auth.admin_token().await;
    let admin_id: Uuid = auth.account_id_of(&admin).await.parse().unwrap();
    let mut known = vec![admin_id];
    for (email, name) in [
        ("kesha@popug.inc", "Kesha Popugaev"),
        ("rio@popug.inc", "Rio Ara"),
        ("zoe@popug.inc", "Zoe Zebra"),
    ] {
        let response = auth.sign_up(email, name).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let created: auth_api::testing::CreatedAccount = response.json().await.unwrap();
        known.push(created.account.id);
    }
    for id in &known {
        accounting.wait_for_account(&id.to_string(), true).await;
    }
    // Balances of two accounts whose events have not reached accounting:
    // listed among the others by id, without email or name.
    let orphans = [Uuid::now_v7(), Uuid::now_v7()];
    ates_core::balances::add(&accounting.db, [(orphans[0], -300), (orphans[1], 700)])
        .await
        .unwrap();

    let mut expected: Vec<Uuid> = known.iter().chain(&orphans).copied().collect();
    expected.sort();
    let mut seen = Vec::new();
    let mut path = "/v1/accounts?per_page=4".to_owned();
    let mut pages = 0;
    loop {
        let page: BalancePage = accounting.get_ok(&path, &admin).await;
        pages += 1;
        assert!(page.items.len() <= 4);
        seen.extend(
            page.items
                .iter()
                .map(|row| (row.account_id, row.balance_cents)),
        );
        for row in &page.items {
            let is_orphan = orphans.contains(&row.account_id);
            assert_eq!(row.email.is_none(), is_orphan, "{row:?}");
            assert_eq!(row.role.is_none(), is_orphan, "{row:?}");
        }
        match page.next_cursor {
            Some(cursor) => path = format!("/v1/accounts?per_page=4&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 2);
    let ids: Vec<Uuid> = seen.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, expected, "every account once, in id order");
    assert!(seen.contains(&(orphans[0], -300)) && seen.contains(&(orphans[1], 700)));

    // A search looks at emails and names, ignoring case, and pages too.
    let found: BalancePage = accounting.get_ok("/v1/accounts?q=ARA", &admin).await;
    let emails: Vec<_> = found.items.iter().map(|row| row.email.clone()).collect();
    assert_eq!(emails, vec![Some("rio@popug.inc".to_owned())]);
    let found: BalancePage = accounting
        .get_ok("/v1/accounts?q=popug.inc&per_page=3", &admin)
        .await;
    assert_eq!(found.items.len(), 3);
    let cursor = found.next_cursor.expect("a fourth popug");
    let rest: BalancePage = accounting
        .get_ok(
            &format!("/v1/accounts?q=popug.inc&per_page=3&cursor={cursor}"),
            &admin,
        )
        .await;
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.next_cursor, None);

    for bad in [
        "/v1/accounts?q=%00",
        "/v1/accounts?q=",
        "/v1/accounts?per_page=101",
        "/v1/accounts?page=1",
        "/v1/accounts?cursor=bm90IGEgY3Vyc29y",
    ] {
        problem(
            accounting.get(bad, &admin).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
}

#[tokio::test]
async fn billing_cycles_page_newest_first() {
    let auth = AuthApp::spawn().await;
    let accounting = AccountingApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let admin = auth.admin_token().await;
    for _ in 0..4 {
        accounting.closed_day(&admin).await;
    }
    let first: CyclePage = accounting
        .get_ok("/v1/billing-cycles?per_page=3", &admin)
        .await;
    let cursor = first.next_cursor.clone().expect("a second page");
    let second: CyclePage = accounting
        .get_ok(
            &format!("/v1/billing-cycles?per_page=3&cursor={cursor}"),
            &admin,
        )
        .await;
    assert_eq!(second.next_cursor, None);
    let all: Vec<_> = first.items.iter().chain(&second.items).collect();
    assert_eq!(all.len(), 5, "four closed and the open one");
    assert!(
        all.windows(2)
            .all(|pair| pair[0].opened_at >= pair[1].opened_at)
    );
    assert_eq!(
        all.iter().filter(|cycle| cycle.closed_at.is_none()).count(),
        1
    );
    assert!(all[0].closed_at.is_none(), "the open cycle is the newest");

    // A cursor of the cycles is not a cursor of an audit log.
    let admin_id = auth.account_id_of(&admin).await;
    problem(
        accounting
            .get(
                &format!("/v1/accounts/{admin_id}/transactions?cursor={cursor}"),
                &admin,
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}

#[tokio::test]
async fn an_audit_log_pages_by_time_then_id_and_an_empty_day_is_one_empty_page() {
    let auth = AuthApp::spawn().await;
    let accounting = AccountingApp::spawn(&auth.broker, &auth.jwks_url()).await;
    let admin = auth.admin_token().await;
    let worker = Uuid::now_v7();
    let cycle = billing_cycle::Entity::find()
        .filter(billing_cycle::Column::Status.eq("open"))
        .one(&accounting.db)
        .await
        .unwrap()
        .expect("an open cycle");
    // Five entries at one instant between two at other instants: the page
    // boundaries fall among equal times.
    // Noon of a past day: its neighbours are the same business day in any
    // configured time zone.
    let now: chrono::DateTime<chrono::Utc> = "2026-03-03T12:00:00.123456Z".parse().unwrap();
    let times = [
        now - chrono::TimeDelta::seconds(1),
        now,
        now,
        now,
        now,
        now,
        now + chrono::TimeDelta::seconds(1),
    ];
    let mut expected: Vec<(chrono::DateTime<chrono::Utc>, Uuid)> = Vec::new();
    for (index, at) in times.into_iter().enumerate() {
        let id = Uuid::new_v4();
        expected.push((at, id));
        transaction::Entity::insert(transaction::ActiveModel {
            id: Set(id),
            account_id: Set(worker),
            kind: Set("task_reward".into()),
            amount_cents: Set(i64::try_from(index).unwrap() + 1),
            task_id: Set(None),
            billing_cycle_id: Set(cycle.id),
            created_at: Set(at),
        })
        .exec(&accounting.db)
        .await
        .unwrap();
    }
    expected.sort();
    let path = format!("/v1/accounts/{worker}/transactions");
    let mut seen = Vec::new();
    let mut query = "date=2026-03-03&per_page=2".to_owned();
    loop {
        let page: TransactionPage = accounting.get_ok(&format!("{path}?{query}"), &admin).await;
        seen.extend(page.items.iter().map(|entry| (entry.created_at, entry.id)));
        match page.next_cursor {
            Some(cursor) => query = format!("date=2026-03-03&per_page=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, expected, "oldest first, ties by id, each once");

    let other_day: TransactionPage = accounting
        .get_ok(&format!("{path}?date=2026-03-04"), &admin)
        .await;
    assert_eq!(other_day.items, vec![]);
    assert_eq!(other_day.next_cursor, None);
}
