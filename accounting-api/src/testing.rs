//! The accounting-api test harness (feature `testing`): the real service
//! on 127.0.0.1:0 with a fresh database on a shared broker, and a tiny
//! SMTP server that records what it receives.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ates_core::account_replica::entity as account;
use ates_core::bus::Outbox;
use ates_core::config::ServiceSettings;
use ates_core::testing::{ApiClient, RunningService, TestedService, answer};
use ates_core::unit_of_work::UnitOfWork;
use event_schemas::accounting::TransactionKind;
use reqwest::Response;
use sea_orm::ActiveValue::Set;
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use uuid::Uuid;

use crate::AccountingApi;
use crate::config::Config;
use crate::db::{billing_cycle, payout, payout_email};
use crate::domain::ledger::{self, LedgerEntry};
use crate::mailer;
use crate::routes::accounting::{
    AccountBalance, BillingCycle, CloseResult, DailyEarnings, MyAccount, Transaction,
};

/// accounting-api under test, started as `main` starts it.
pub type AccountingApp = RunningService<AccountingApi>;

/// A test configuration: UTC, no scheduler (tests close by hand), emails
/// kept in the database (a test that reads them sets `smtp_url` to an
/// [`SmtpSink`]).
impl TestedService for AccountingApi {
    type Client = AccountingClient;

    fn client(http: ApiClient) -> AccountingClient {
        AccountingClient(http)
    }

    fn test_config(settings: ServiceSettings) -> Config {
        Config {
            service: settings,
            smtp_url: None,
            mail_from: "aTES Accounting <accounting@popug.inc>".into(),
            mail_per_second: 0,
            pricing_seed: "test".into(),
            scheduler_enabled: false,
        }
    }
}

/// accounting-api's endpoints as methods: the client every accounting-api
/// test uses.
#[derive(Debug, Clone)]
pub struct AccountingClient(ApiClient);

impl AccountingClient {
    /// `POST /v1/billing-cycles/close`, whatever it answers.
    pub async fn close_day(&self, token: &str) -> Response {
        self.0.post("/v1/billing-cycles/close", token, None).await
    }

    /// Closes the day; it must succeed. Returns what the close did.
    pub async fn closed_day(&self, token: &str) -> CloseResult {
        let response = self.close_day(token).await;
        answer(response, reqwest::StatusCode::OK, "close the day").await
    }

    /// `GET /v1/me`.
    pub async fn me(&self, token: &str) -> MyAccount {
        self.0.get_ok("/v1/me", token).await
    }

    /// `GET /v1/me/transactions?date=` (today without a date): the whole
    /// day, page after page.
    pub async fn my_transactions(&self, token: &str, date: Option<&str>) -> Vec<Transaction> {
        let path = match date {
            Some(date) => format!("/v1/me/transactions?date={date}"),
            None => "/v1/me/transactions".to_owned(),
        };
        self.0.get_all(&path, token).await
    }

    /// `GET /v1/accounts`: every balance, page after page.
    pub async fn balances(&self, token: &str) -> Vec<AccountBalance> {
        self.0.get_all("/v1/accounts", token).await
    }

    /// `GET /v1/stats/management?{query}`.
    pub async fn management(&self, token: &str, query: &str) -> Vec<DailyEarnings> {
        self.0
            .get_ok(&format!("/v1/stats/management?{query}"), token)
            .await
    }

    /// `GET /v1/billing-cycles`: every cycle, page after page.
    pub async fn cycles(&self, token: &str) -> Vec<BillingCycle> {
        self.0.get_all("/v1/billing-cycles", token).await
    }
}

/// `count` new workers, each in the account replica with an address and
/// given `cents` in the open cycle as the ledger gives a reward
/// (transaction, balance, earnings, event in the outbox), a thousand to a
/// transaction. Returns their ids in order.
pub async fn seed_earners(db: &DatabaseConnection, count: usize, cents: i64) -> Vec<Uuid> {
    let outbox = Outbox::detached("accounting-api");
    let ids: Vec<Uuid> = (0..count).map(|_| Uuid::now_v7()).collect();
    ates_core::testing::seed_replica(db, &ids).await;
    let now = ates_core::db::now();
    for chunk in ids.chunks(1000) {
        let work = UnitOfWork::begin(db, &outbox).await.unwrap();
        let entries = chunk
            .iter()
            .map(|id| LedgerEntry {
                account_id: *id,
                kind: TransactionKind::TaskReward,
                amount_cents: cents,
                task_id: Some(Uuid::now_v7()),
                at: now,
                cause: tracing::Span::current(),
            })
            .collect();
        ledger::post_all(&work, entries, None).await.unwrap();
        work.commit().await.unwrap();
    }
    ids
}

/// One message an SMTP client delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
    /// When its last line arrived.
    pub received_at: std::time::Instant,
}

/// A minimal SMTP server (enough for lettre) that keeps every message.
#[derive(Clone, Default)]
pub struct SmtpSink {
    pub received: Arc<Mutex<Vec<ReceivedMail>>>,
    /// Every connection accepted, whether a message followed or not.
    pub connections: Arc<AtomicUsize>,
    /// Messages still to turn away ([`SmtpSink::refuse_next`]).
    refusals: Arc<AtomicUsize>,
    pub port: u16,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink = Self {
            received: Arc::default(),
            connections: Arc::default(),
            refusals: Arc::default(),
            port: listener.local_addr().unwrap().port(),
        };
        let received = sink.received.clone();
        let connections = sink.connections.clone();
        let refusals = sink.refusals.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                connections.fetch_add(1, Ordering::SeqCst);
                let (received, refusals) = (received.clone(), refusals.clone());
                tokio::spawn(async move {
                    let _ = serve_session(stream, received, refusals).await;
                });
            }
        });
        sink
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.received.lock().unwrap().clone()
    }

    /// Turns the next `count` messages away after their data, with a
    /// temporary failure (`451`), as a server that is out of space does;
    /// they are not kept.
    pub fn refuse_next(&self, count: usize) {
        self.refusals.store(count, Ordering::SeqCst);
    }

    /// How many SMTP connections were opened to the sink.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn serve_session(
    stream: tokio::net::TcpStream,
    received: Arc<Mutex<Vec<ReceivedMail>>>,
    refusals: Arc<AtomicUsize>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write
        .write_all(b"220 sink.popug.inc ESMTP test\r\n")
        .await?;
    let mut from = String::new();
    let mut to = Vec::new();
    while let Some(line) = lines.next_line().await? {
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            write
                .write_all(b"250-sink.popug.inc\r\n250 8BITMIME\r\n")
                .await?;
        } else if upper.starts_with("MAIL FROM:") {
            from = line[10..].trim().trim_matches(['<', '>']).to_owned();
            write.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("RCPT TO:") {
            to.push(line[8..].trim().trim_matches(['<', '>']).to_owned());
            write.write_all(b"250 OK\r\n").await?;
        } else if upper == "DATA" {
            write.write_all(b"354 go ahead\r\n").await?;
            let mut data = String::new();
            while let Some(line) = lines.next_line().await? {
                if line == "." {
                    break;
                }
                data.push_str(&line);
                data.push('\n');
            }
            let refused = refusals
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                    left.checked_sub(1)
                })
                .is_ok();
            if refused {
                (from, to) = (String::new(), Vec::new());
                write
                    .write_all(b"451 4.3.1 insufficient storage, try later\r\n")
                    .await?;
                continue;
            }
            received.lock().unwrap().push(ReceivedMail {
                from: std::mem::take(&mut from),
                to: std::mem::take(&mut to),
                data,
                received_at: std::time::Instant::now(),
            });
            write.write_all(b"250 queued\r\n").await?;
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            write.write_all(b"250 OK\r\n").await?;
        }
    }
    Ok(())
}

/// A worker in the account replica with `email` and `full_name`, as
/// replicated from auth-api; returns its id.
pub async fn account_with(db: &DatabaseConnection, email: &str, full_name: &str) -> Uuid {
    let id = Uuid::new_v4();
    replicate_account(db, id, email, full_name).await;
    id
}

/// Puts account `id` into the replica as a worker with `email` and
/// `full_name` (as its first `accounts.created` would).
pub async fn replicate_account(db: &DatabaseConnection, id: Uuid, email: &str, full_name: &str) {
    account::Entity::insert(account::ActiveModel {
        id: Set(id),
        email: Set(email.into()),
        full_name: Set(full_name.into()),
        role: Set("worker".into()),
        active: Set(true),
        state_at: Set(chrono::Utc::now()),
        details_revision: Set(Some(1)),
        role_revision: Set(Some(1)),
        active_revision: Set(Some(1)),
    })
    .exec(db)
    .await
    .unwrap();
}

/// A pending email, due now, for a $12.34 payout to `account_id` of a
/// close that has finished; returns the payout's id.
pub async fn pending_payout_email(db: &DatabaseConnection, account_id: Uuid) -> Uuid {
    let payout_id = Uuid::new_v4();
    let cycle_id = Uuid::now_v7();
    let now = chrono::Utc::now();
    let seq = billing_cycle::Entity::find().count(db).await.unwrap() + 1;
    billing_cycle::Entity::insert(billing_cycle::ActiveModel {
        id: Set(cycle_id),
        seq: Set(i64::try_from(seq).unwrap()),
        business_date: Set("2026-12-01".into()),
        status: Set("closed".into()),
        opened_at: Set(now),
        closed_at: Set(Some(now)),
        payments_count: Set(1),
        payments_total_cents: Set(1234),
    })
    .exec(db)
    .await
    .unwrap();
    payout::Entity::insert(payout::ActiveModel {
        id: Set(payout_id),
        billing_cycle_id: Set(cycle_id),
        account_id: Set(account_id),
        transaction_id: Set(Uuid::now_v7()),
        amount_cents: Set(1234),
        created_at: Set(now),
    })
    .exec(db)
    .await
    .unwrap();
    payout_email::Entity::insert(payout_email::ActiveModel {
        payout_id: Set(payout_id),
        account_id: Set(account_id),
        amount_cents: Set(1234),
        business_date: Set("2026-12-01".into()),
        status: Set(mailer::PENDING.into()),
        recipient: Set(None),
        subject: Set(None),
        body: Set(None),
        attempts: Set(0),
        last_error: Set(None),
        next_attempt_at: Set(now - chrono::Duration::seconds(1)),
        sent_at: Set(None),
    })
    .exec(db)
    .await
    .unwrap();
    payout_id
}
