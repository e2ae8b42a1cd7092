//! The accounting-api test harness (feature `testing`): the real service
//! on 127.0.0.1:0 with a fresh database on a shared broker, and a tiny
//! SMTP server that records what it receives.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ates_core::bus::Outbox;
use ates_core::config::ServiceSettings;
use ates_core::testing::{ApiClient, RunningService, TestedService, answer};
use ates_core::unit_of_work::UnitOfWork;
use event_schemas::accounting::TransactionKind;
use reqwest::Response;
use sea_orm::DatabaseConnection;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use uuid::Uuid;

use crate::AccountingApi;
use crate::config::Config;
use crate::domain::ledger::{self, LedgerEntry};
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
    pub port: u16,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink = Self {
            received: Arc::default(),
            connections: Arc::default(),
            port: listener.local_addr().unwrap().port(),
        };
        let received = sink.received.clone();
        let connections = sink.connections.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                connections.fetch_add(1, Ordering::SeqCst);
                let received = received.clone();
                tokio::spawn(async move {
                    let _ = serve_session(stream, received).await;
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

    /// How many SMTP connections were opened to the sink.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn serve_session(
    stream: tokio::net::TcpStream,
    received: Arc<Mutex<Vec<ReceivedMail>>>,
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
