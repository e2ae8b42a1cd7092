//! `make bench`: the whole system on this machine, one table.
//!
//! 1. The four services run as their release binaries (separate processes,
//!    each with its own database: a SQLite file in a temporary directory,
//!    or with `TEST_DATABASE_URL=postgres://…` a fresh PostgreSQL database
//!    on that server) on a private `nats-server`.
//!    A client in this process drives them over HTTP at 50 connections:
//!    `POST /v1/tasks` (its rate and latency, then the pipeline: how long
//!    until accounting's ledger holds every created task's fee),
//!    `GET /v1/tasks/mine`, then 500 tasks/s for the event lag from the
//!    create request to `accounting.transaction_applied` on the bus. Peak
//!    resident memory of each service is read from `/proc` at the end.
//!    Then what metrics and tracing cost: every service restarted with
//!    both off (`METRICS=off`, `OTEL_SDK_DISABLED=true`), then on, twice,
//!    the same create and read loads in each.
//! 2. Outbox relay drain next to raw JetStream publishing on the same
//!    server (measured first, while the server is quiet; three alternating
//!    rounds, medians): the async-nats client publishes N envelopes with
//!    message ids, pipelined, and waits for every ack; the same N envelopes
//!    are written to a SQLite outbox first, then the relay drains them.
//!    Then the login storm: 200 clients send wrong passwords back to back
//!    (each for a new email from a new address, so only the bounded hashing
//!    queue stands in the way) while two honest clients log in every
//!    100 ms, one from where it logged in before, one from a new address;
//!    then 200 simultaneous wrong guesses at one email, whose 401s are the
//!    password checks that ran.
//! 3. Registry validation of one event.
//!
//! Build the binaries first (`make bench` does): `cargo build --release
//! --bins`. `BENCH_SECONDS` (default 15) sets each load phase's length,
//! `BENCH_EVENTS` (default 20,000) the relay's backlog; with `BENCH_KEEP` set
//! the services' logs are kept for a look afterwards (PostgreSQL databases
//! stay until `make test-db-clean`);
//! `DATABASE_MAX_CONNECTIONS` is passed on to the services.

use std::collections::HashMap;
use std::future::IntoFuture;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use async_nats::jetstream::message::PublishMessage;
use ates_core::bus::{BusConfig, BusMigrator, EventBus, RelaySettings};
use ates_core::db;
use ates_core::page::{Cursor, Keyset, Position};
use ates_core::testing::{NatsServer, TestDatabase, free_port, percentile};
use ates_core::unit_of_work::UnitOfWork;
use bytes::Bytes;
use chrono::Utc;
use event_schemas::Envelope;
use event_schemas::tasks::TaskCompletedV1;
use futures::StreamExt;
use futures::future::join_all;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use sea_orm_migration::MigratorTrait;
use serde_json::{Value, json};
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
        let work = UnitOfWork::begin(db, &outbox).await.expect("transaction");
        for event in events.by_ref().take(500) {
            work.add_envelope(&event).await.expect("valid event");
        }
        work.commit().await.expect("commit");
    }
    count as f64 / started.elapsed().as_secs_f64()
}

/// The number a `SELECT COUNT(*) AS n ...` returns.
async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(
        db.get_database_backend(),
        sql.to_owned(),
    ))
    .await
    .expect("query")
    .expect("row")
    .try_get::<i64>("", "n")
    .expect("count")
}

/// The number a `SELECT COUNT(*) AS n ...` returns, its `{cycle}` bound
/// to `cycle`.
async fn count_of_cycle(db: &DatabaseConnection, sql: &str, cycle: Uuid) -> i64 {
    let backend = db.get_database_backend();
    let placeholder = match backend {
        sea_orm::DbBackend::Postgres => "$1",
        _ => "?",
    };
    db.query_one_raw(Statement::from_sql_and_values(
        backend,
        sql.replace("{cycle}", placeholder),
        [cycle.into()],
    ))
    .await
    .expect("query")
    .expect("row")
    .try_get::<i64>("", "n")
    .expect("count")
}

/// The `id` of the one row a query returns.
async fn id_of(db: &DatabaseConnection, sql: &str) -> Uuid {
    db.query_one_raw(Statement::from_string(
        db.get_database_backend(),
        sql.to_owned(),
    ))
    .await
    .expect("query")
    .unwrap_or_else(|| panic!("a row from {sql}"))
    .try_get::<Uuid>("", "id")
    .expect("its id")
}

/// Outbox rows not published yet.
async fn pending(db: &DatabaseConnection) -> i64 {
    count(
        db,
        "SELECT COUNT(*) AS n FROM outbox_events WHERE published_at IS NULL",
    )
    .await
}

/// The targets on this 2-core machine (README, "Benchmarks"), by
/// database.
struct Targets {
    post_rate: f64,
    post_p99_ms: f64,
    mine_rate: f64,
    pipeline: f64,
    lag_p99_ms: f64,
}

fn targets() -> Targets {
    if store_name() == "PostgreSQL" {
        Targets {
            post_rate: 3000.0,
            post_p99_ms: 50.0,
            mine_rate: 6000.0,
            pipeline: 2500.0,
            lag_p99_ms: 100.0,
        }
    } else {
        Targets {
            post_rate: 6000.0,
            post_p99_ms: 30.0,
            mine_rate: 8000.0,
            pipeline: 5000.0,
            lag_p99_ms: 50.0,
        }
    }
}

const RELAY_SHARE_TARGET: f64 = 80.0;
const VALIDATION_TARGET_US: f64 = 2.0;
const RSS_TARGET_MIB: f64 = 64.0;
/// argon2's working memory per hashing thread (19 MiB, OWASP's
/// parameters), which auth-api's memory target adds per thread.
const ARGON2_MIB: f64 = 19.0;
const CLOSE_TARGET_SECONDS: f64 = 60.0;
const SIZE_RATIO_TARGET: f64 = 1.5;
const CONNECTIONS: usize = 50;
const RELAY_ROUNDS: usize = 3;
const LAG_RATE: u32 = 500;
const LAG_TASKS: usize = 2000;
const STORM_CLIENTS: usize = 200;
const HONEST_LOGIN_P99_TARGET_MS: f64 = 1000.0;
const GUESSES: usize = 200;
/// auth-api's default `LOGIN_MAX_FAILURES`: the checks one email gets.
const LOGIN_MAX_FAILURES: usize = 5;
const SERVICES: [&str; 4] = ["auth-api", "tasks-api", "accounting-api", "analytics-api"];
const ADMIN_EMAIL: &str = "admin@popug.inc";
const ADMIN_PASSWORD: &str = "bench-admin-password";
/// The rows of the size measures: tasks of the day first at
/// `SMALL_TASKS`, then at `LARGE_TASKS`.
const SMALL_TASKS: usize = 1_000;
const LARGE_TASKS: usize = 200_000;
/// Requests per size measure (their median is the figure).
const SIZE_SAMPLES: usize = 30;
/// Accounts with a positive balance at each close.
const CLOSE_ACCOUNTS: usize = 100_000;
/// The payout emails' rate the bench sets (`MAIL_PER_SECOND`).
const MAIL_PER_SECOND: u32 = 500;
/// How long the bench watches the emails go out.
const MAIL_WATCH: Duration = Duration::from_secs(10);

/// One row of the table.
struct Row {
    measure: String,
    value: String,
    target: String,
}

fn row(measure: impl Into<String>, value: impl Into<String>, target: impl Into<String>) -> Row {
    Row {
        measure: measure.into(),
        value: value.into(),
        target: target.into(),
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The database the bench runs on, as the table's header names it.
fn store_name() -> &'static str {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => "PostgreSQL",
        _ => "SQLite",
    }
}

/// The four services as child processes; killed when dropped.
struct System {
    children: Vec<(&'static str, Child)>,
    ports: HashMap<&'static str, u16>,
    /// Each service's own database: a SQLite file, or a fresh PostgreSQL
    /// database on `TEST_DATABASE_URL`'s server.
    databases: HashMap<&'static str, TestDatabase>,
    /// Where the release binaries are.
    binaries: std::path::PathBuf,
    nats_url: String,
    /// The services' logs.
    dir: tempfile::TempDir,
    /// Metrics and tracing on (the default), or off (`METRICS=off`,
    /// `OTEL_SDK_DISABLED=true`) to measure what they cost.
    observed: bool,
    /// The peak memory of the processes `restart_all` replaced, MiB.
    earlier_peaks: HashMap<&'static str, f64>,
}

impl Drop for System {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::env::var_os("BENCH_KEEP").is_some() {
            let kept = std::mem::replace(
                &mut self.dir,
                tempfile::tempdir().expect("a temporary directory"),
            )
            .keep();
            eprintln!("databases and logs kept in {}", kept.display());
        }
    }
}

impl System {
    async fn start(nats_url: &str) -> Self {
        let binaries = std::env::current_exe()
            .expect("the bench's path")
            .parent()
            .and_then(Path::parent)
            .expect("target/release")
            .to_path_buf();
        let ports: HashMap<&'static str, u16> = SERVICES
            .iter()
            .map(|service| (*service, free_port()))
            .collect();
        let mut databases = HashMap::new();
        for service in SERVICES {
            databases.insert(service, TestDatabase::create().await);
        }
        let mut system = Self {
            children: Vec::new(),
            ports,
            databases,
            binaries,
            nats_url: nats_url.to_owned(),
            dir: tempfile::tempdir().expect("a temporary directory"),
            observed: true,
            earlier_peaks: HashMap::new(),
        };
        for service in SERVICES {
            let child = system.spawn(service);
            system.children.push((service, child));
        }
        for service in SERVICES {
            system.wait_until_healthy(service).await;
        }
        system
    }

    /// Starts `service`'s release binary, its log appended to its file.
    fn spawn(&self, service: &'static str) -> Child {
        let binary = self.binaries.join(service);
        assert!(
            binary.exists(),
            "{} is missing: run `make bench` (it builds the release binaries first)",
            binary.display()
        );
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("{service}.log")))
            .expect("log file");
        let switch = if self.observed { "on" } else { "off" };
        Command::new(&binary)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("METRICS", switch)
            .env("OTEL_SDK_DISABLED", (!self.observed).to_string())
            .env("RUST_LOG", "warn")
            .env("NATS_URL", &self.nats_url)
            .env("BIND_ADDR", format!("127.0.0.1:{}", self.ports[service]))
            .env("DATABASE_URL", self.databases[service].url())
            .env(
                "AUTH_JWKS_URL",
                format!(
                    "http://127.0.0.1:{}/.well-known/jwks.json",
                    self.ports["auth-api"]
                ),
            )
            // The login storm names its clients in X-Forwarded-For.
            .env("TRUSTED_PROXIES", "127.0.0.1")
            .env("ATES_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("ATES_ADMIN_PASSWORD", ADMIN_PASSWORD)
            // The bench closes the day itself, whatever the clock says, and
            // waits for the answer of a close of 100,000 accounts.
            .env("CLOSE_SCHEDULER", "off")
            .env("REQUEST_TIMEOUT_SECS", "600")
            .env("MAIL_PER_SECOND", MAIL_PER_SECOND.to_string())
            .envs(
                std::env::var("DATABASE_MAX_CONNECTIONS")
                    .map(|pool| ("DATABASE_MAX_CONNECTIONS", pool)),
            )
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {service}: {error}"))
    }

    async fn wait_until_healthy(&self, service: &str) {
        let client = reqwest::Client::new();
        let url = self.url(service, "/healthz");
        let started = Instant::now();
        loop {
            if matches!(client.get(&url).send().await, Ok(response) if response.status().is_success())
            {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "{service} did not start; see its log in {}",
                self.dir.path().display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `kill -9` of `service`, then a fresh start of it on the same
    /// database; returns once it answers again. Its peak memory before
    /// the crash is returned (the new process starts its own count).
    async fn crash_and_restart(&mut self, service: &'static str) -> f64 {
        let before = self.peak_rss_of(service);
        let index = self
            .children
            .iter()
            .position(|(name, _)| *name == service)
            .expect("a running service");
        let child = &mut self.children[index].1;
        child.kill().expect("kill -9");
        child.wait().expect("the killed process is reaped");
        self.children[index].1 = self.spawn(service);
        self.wait_until_healthy(service).await;
        before
    }

    /// Every service stopped (`kill -9`) and started again on its database
    /// with metrics and tracing `observed` or not; returns once all answer.
    async fn restart_all(&mut self, observed: bool) {
        self.observed = observed;
        for service in SERVICES {
            let peak = self.peak_rss_of(service);
            let earlier = self.earlier_peaks.entry(service).or_default();
            *earlier = earlier.max(peak);
        }
        for (_, child) in &mut self.children {
            child.kill().expect("kill -9");
            child.wait().expect("the killed process is reaped");
        }
        for index in 0..self.children.len() {
            let service = self.children[index].0;
            self.children[index].1 = self.spawn(service);
        }
        for service in SERVICES {
            self.wait_until_healthy(service).await;
        }
    }

    fn url(&self, service: &str, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.ports[service])
    }

    fn database_url(&self, service: &str) -> &str {
        self.databases[service].url()
    }

    /// Peak resident memory (VmHWM) of each service, MiB, over its
    /// processes before and after `restart_all`.
    fn peak_rss(&self) -> Vec<(&'static str, f64)> {
        SERVICES
            .iter()
            .map(|service| {
                let earlier = self.earlier_peaks.get(service).copied().unwrap_or(0.0);
                (*service, self.peak_rss_of(service).max(earlier))
            })
            .collect()
    }

    fn peak_rss_of(&self, service: &str) -> f64 {
        let child = &self
            .children
            .iter()
            .find(|(name, _)| *name == service)
            .expect("a running service")
            .1;
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
        let kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.split_whitespace().next())
            .and_then(|value| value.parse::<f64>().ok())
            .unwrap_or(0.0);
        kib / 1024.0
    }
}

/// Signs up `count` workers and returns the first one's access token.
async fn workers(system: &System, client: &reqwest::Client, count: usize) -> String {
    for index in 0..count {
        let response = client
            .post(system.url("auth-api", "/v1/accounts"))
            .json(&json!({
                "email": format!("worker{index}@popug.inc"),
                "password": "bench-password",
                "full_name": format!("Worker {index}"),
            }))
            .send()
            .await
            .expect("sign-up");
        assert_eq!(response.status(), 201, "sign-up");
    }
    login(system, client, "worker0@popug.inc", "bench-password").await
}

/// What a load phase measured.
struct Load {
    requests: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Load {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// `CONNECTIONS` clients sending `request` back to back for `duration`;
/// every answer must have `expected` status.
async fn load<F>(duration: Duration, expected: u16, request: F) -> Load
where
    F: Fn() -> reqwest::RequestBuilder + Clone + Send + 'static,
{
    let started = Instant::now();
    let deadline = started + duration;
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let request = request.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let response = request().send().await.expect("a response");
                    let status = response.status().as_u16();
                    let body = response.bytes().await.expect("a body");
                    assert_eq!(
                        status,
                        expected,
                        "unexpected answer: {}",
                        String::from_utf8_lossy(&body)
                    );
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for client in clients {
        latencies.extend(client.await.expect("load client"));
    }
    Load {
        requests: latencies.len(),
        elapsed: started.elapsed(),
        latencies,
    }
}

/// `POST /v1/tasks` and `GET /v1/tasks/mine`, measured with metrics and
/// tracing off and on.
struct Overhead {
    /// Per mode (off, on): the creates' and the reads' loads, every round.
    posts: [Vec<Load>; 2],
    mine: [Vec<Load>; 2],
}

/// The rounds of the overhead measure.
const OVERHEAD_ROUNDS: usize = 2;

/// Restarts every service with metrics and tracing off, then on,
/// `OVERHEAD_ROUNDS` times, and runs the same `POST /v1/tasks` and
/// `GET /v1/tasks/mine` loads in each, waiting between loads until the
/// ledger holds every created task's fee (so each load starts quiet).
/// Ends with them on.
async fn overhead<C, M>(
    system: &mut System,
    ledger: &DatabaseConnection,
    duration: Duration,
    create: C,
    mine: M,
) -> Overhead
where
    C: Fn() -> reqwest::RequestBuilder + Clone + Send + 'static,
    M: Fn() -> reqwest::RequestBuilder + Clone + Send + 'static,
{
    let mut measured = Overhead {
        posts: [Vec::new(), Vec::new()],
        mine: [Vec::new(), Vec::new()],
    };
    for _ in 0..OVERHEAD_ROUNDS {
        for observed in [false, true] {
            system.restart_all(observed).await;
            let mode = usize::from(observed);
            // The first create also waits for tasks-api to fetch the keys.
            let started = Instant::now();
            while create().send().await.map(|r| r.status().as_u16()).ok() != Some(201) {
                assert!(started.elapsed() < Duration::from_secs(30), "no create");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            caught_up(ledger, system).await;
            measured.posts[mode].push(load(duration, 201, create.clone()).await);
            caught_up(ledger, system).await;
            measured.mine[mode].push(load(duration, 200, mine.clone()).await);
        }
    }
    measured
}

/// Waits until accounting's ledger holds a fee for every task tasks-api
/// has.
async fn caught_up(ledger: &DatabaseConnection, system: &System) {
    let tasks_db = db::connect(system.database_url("tasks-api"), 1)
        .await
        .expect("tasks' database");
    let started = Instant::now();
    loop {
        let tasks = count(&tasks_db, "SELECT COUNT(*) AS n FROM tasks").await;
        if fees(ledger).await >= tasks {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the ledger never caught up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tasks_db.close().await.expect("closed");
}

/// The rows of the overhead measure: each mode's mean rate and p99 over
/// its rounds, and what turning them on costs.
fn overhead_rows(measured: &mut Overhead, seconds: u64) -> Vec<Row> {
    let mut rows = Vec::new();
    for (name, loads) in [
        ("POST /v1/tasks", &mut measured.posts),
        ("GET /v1/tasks/mine", &mut measured.mine),
    ] {
        let mut summary = [(0.0, 0.0); 2];
        for (mode, rounds) in loads.iter_mut().enumerate() {
            let rate = rounds.iter().map(Load::rate).sum::<f64>() / rounds.len() as f64;
            let mut latencies: Vec<Duration> = rounds
                .iter()
                .flat_map(|load| load.latencies.iter().copied())
                .collect();
            summary[mode] = (rate, ms(percentile(&mut latencies, 99)));
        }
        let [(off_rate, off_p99), (on_rate, on_p99)] = summary;
        let cost = 100.0 * (off_rate - on_rate) / off_rate;
        rows.push(row(
            format!(
                "{name}, metrics and tracing off / on, {OVERHEAD_ROUNDS} alternating rounds of {seconds} s"
            ),
            format!(
                "off {off_rate:.0} req/s (p99 {off_p99:.1} ms), on {on_rate:.0} req/s (p99 {on_p99:.1} ms)"
            ),
            format!("cost of on: {cost:.1}% of the rate"),
        ));
    }
    rows
}

/// Assignment fees in accounting's ledger.
async fn fees(ledger: &DatabaseConnection) -> i64 {
    count(
        ledger,
        "SELECT COUNT(*) AS n FROM transactions WHERE kind = 'assignment_fee'",
    )
    .await
}

/// Creates tasks at `LAG_RATE` per second and returns, for each, the time
/// from sending its request to its fee's `accounting.transaction_applied`.
async fn lags(bus: &EventBus, client: &reqwest::Client, url: &str, token: &str) -> Vec<Duration> {
    let mut applied = bus
        .client()
        .subscribe(
            bus.naming()
                .wire_subject("accounting.transaction_applied.v1"),
        )
        .await
        .expect("subscribe");
    let (sent_tx, mut sent_rx) = tokio::sync::mpsc::unbounded_channel::<(Uuid, Instant)>();
    let mut sent: HashMap<Uuid, Instant> = HashMap::new();
    let mut arrived: HashMap<Uuid, Instant> = HashMap::new();
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / LAG_RATE);
    let mut launched = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while sent.len() < LAG_TASKS || sent.keys().any(|task| !arrived.contains_key(task)) {
        assert!(Instant::now() < deadline, "fees missing after two minutes");
        tokio::select! {
            _ = ticker.tick(), if launched < LAG_TASKS => {
                launched += 1;
                let request = client.post(url).bearer_auth(token).json(&json!({"title": "Lag task", "description": "bench"}));
                let sent_tx = sent_tx.clone();
                tokio::spawn(async move {
                    let at = Instant::now();
                    let task: Value = request.send().await.expect("create").json().await.expect("task");
                    let id = task["id"].as_str().and_then(|id| Uuid::parse_str(id).ok()).expect("a task id");
                    let _ = sent_tx.send((id, at));
                });
            }
            Some((task, at)) = sent_rx.recv() => { sent.insert(task, at); }
            Some(message) = applied.next() => {
                let event: Value = serde_json::from_slice(&message.payload).expect("JSON");
                let task = event["data"]["task_id"].as_str().and_then(|id| Uuid::parse_str(id).ok());
                if let (Some(task), true) = (task, event["data"]["kind"] == "assignment_fee") {
                    arrived.entry(task).or_insert_with(Instant::now);
                }
            }
        }
    }
    sent.iter()
        .map(|(task, at)| arrived[task].saturating_duration_since(*at))
        .collect()
}

/// One round: `count` envelopes published raw (pipelined, acked), then the
/// same number written to a fresh SQLite outbox and drained by the relay.
/// Returns (raw events/s, outbox write events/s, relay events/s).
async fn relay_next_to_raw(nats_url: &str, count: usize, round: usize) -> (f64, f64, f64) {
    let config = |prefix: String| BusConfig {
        nats_url: nats_url.to_owned(),
        subject_prefix: Some(prefix),
        service: "bench".into(),
        ..BusConfig::default()
    };
    let raw_bus = EventBus::connect(&config(format!("raw{round}")))
        .await
        .expect("connect");
    raw_bus.ensure_streams().await.expect("streams");
    let raw_rate = raw_publish(&raw_bus, &envelopes(count)).await;
    assert_eq!(stream_count(&raw_bus).await, count as u64);

    let database = TestDatabase::create().await;
    let db = database.connect().await;
    BusMigrator::up(&db, None).await.expect("migrations");
    let relay_bus = EventBus::connect(&config(format!("relay{round}")))
        .await
        .expect("connect");
    relay_bus.ensure_streams().await.expect("streams");
    let outbox_rate = fill_outbox(&relay_bus, &db, envelopes(count)).await;
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let relay = tokio::spawn(
        relay_bus
            .relay(db.clone(), RelaySettings::default())
            .run(shutdown.clone()),
    );
    while pending(&db).await > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let relay_rate = count as f64 / started.elapsed().as_secs_f64();
    shutdown.cancel();
    relay.await.expect("relay stops");
    assert_eq!(stream_count(&relay_bus).await, count as u64);
    (raw_rate, outbox_rate, relay_rate)
}

/// What the login storm measured.
struct Storm {
    /// A client logging in where it logged in before.
    honest: Vec<Duration>,
    honest_statuses: HashMap<u16, usize>,
    /// A client logging in from a new address each time.
    newcomer: Vec<Duration>,
    newcomer_statuses: HashMap<u16, usize>,
    storm_statuses: HashMap<u16, usize>,
    elapsed: Duration,
}

/// An honest client's login every 100 ms until `deadline`, from the
/// address `forwarded_for` gives for each attempt.
async fn honest_logins(
    client: reqwest::Client,
    url: String,
    email: &'static str,
    deadline: Instant,
    forwarded_for: impl Fn(usize) -> String,
) -> (Vec<Duration>, HashMap<u16, usize>) {
    let mut latencies = Vec::new();
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    while Instant::now() < deadline {
        ticker.tick().await;
        let sent = Instant::now();
        let response = client
            .post(&url)
            .header("x-forwarded-for", forwarded_for(latencies.len()))
            .json(&json!({"email": email, "password": "bench-password"}))
            .send()
            .await
            .expect("a response");
        let status = response.status().as_u16();
        let _ = response.bytes().await;
        latencies.push(sent.elapsed());
        *statuses.entry(status).or_default() += 1;
    }
    (latencies, statuses)
}

/// `STORM_CLIENTS` clients send wrong passwords back to back, each request
/// for a new email from a new address (named in `X-Forwarded-For`, which
/// auth-api believes from 127.0.0.1 here: a botnet that neither the
/// per-email nor the per-address limit stops, so every guess reaches the
/// hashing queue), while two honest clients log in with the right password
/// every 100 ms: one from the address it logged in from before, one from a
/// new address each time.
async fn login_storm(system: &System, duration: Duration) -> Storm {
    let client = reqwest::Client::new();
    let url = system.url("auth-api", "/v1/auth/login");
    // The honest client has logged in from its address before.
    let warm_up = client
        .post(&url)
        .header("x-forwarded-for", "192.0.2.1")
        .json(&json!({"email": "worker0@popug.inc", "password": "bench-password"}))
        .send()
        .await
        .expect("a response");
    assert_eq!(warm_up.status(), 200, "the honest client's first login");
    let started = Instant::now();
    let deadline = started + duration;
    let sequence = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let storm: Vec<_> = (0..STORM_CLIENTS)
        .map(|_| {
            let (client, url, sequence) = (client.clone(), url.clone(), sequence.clone());
            tokio::spawn(async move {
                let mut statuses: HashMap<u16, usize> = HashMap::new();
                while Instant::now() < deadline {
                    let n = sequence.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let [_, a, b, c] = n.to_be_bytes();
                    let response = client
                        .post(&url)
                        .header("x-forwarded-for", format!("10.{a}.{b}.{c}"))
                        .json(&json!({"email": format!("storm{n}@popug.inc"), "password": "a wrong guess"}))
                        .send()
                        .await
                        .expect("a response");
                    *statuses.entry(response.status().as_u16()).or_default() += 1;
                    let _ = response.bytes().await;
                }
                statuses
            })
        })
        .collect();
    let newcomer = tokio::spawn(honest_logins(
        client.clone(),
        url.clone(),
        "worker2@popug.inc",
        deadline,
        |attempt| format!("198.51.100.{}", attempt % 250 + 1),
    ));
    let (honest, honest_statuses) = honest_logins(
        client.clone(),
        url.clone(),
        "worker0@popug.inc",
        deadline,
        |_| "192.0.2.1".to_owned(),
    )
    .await;
    let (newcomer, newcomer_statuses) = newcomer.await.expect("newcomer");
    let mut storm_statuses: HashMap<u16, usize> = HashMap::new();
    for client in storm {
        for (status, count) in client.await.expect("storm client") {
            *storm_statuses.entry(status).or_default() += count;
        }
    }
    Storm {
        honest,
        honest_statuses,
        newcomer,
        newcomer_statuses,
        storm_statuses,
        elapsed: started.elapsed(),
    }
}

/// `GUESSES` wrong passwords for one email, all at once: the statuses.
async fn simultaneous_guesses(system: &System) -> HashMap<u16, usize> {
    let client = reqwest::Client::new();
    let url = system.url("auth-api", "/v1/auth/login");
    let guesses = (0..GUESSES).map(|index| {
        let (client, url) = (client.clone(), url.clone());
        tokio::spawn(async move {
            client
                .post(&url)
                .header("x-forwarded-for", "192.0.2.2")
                .json(&json!({"email": "worker1@popug.inc", "password": format!("wrong guess {index}")}))
                .send()
                .await
                .expect("a response")
                .status()
                .as_u16()
        })
    });
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    for status in join_all(guesses).await {
        *statuses.entry(status.expect("guess")).or_default() += 1;
    }
    statuses
}

/// Logs in; returns the access token.
async fn login(system: &System, client: &reqwest::Client, email: &str, password: &str) -> String {
    let login: Value = client
        .post(system.url("auth-api", "/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login body");
    login["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token for {email}: {login}"))
        .to_owned()
}

/// Creates `count` tasks over HTTP, `CONNECTIONS` at a time; every answer
/// must be 201.
async fn create_tasks(client: &reqwest::Client, url: &str, token: &str, count: usize) {
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let creators: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (client, url, token, next) = (
                client.clone(),
                url.to_owned(),
                token.to_owned(),
                next.clone(),
            );
            tokio::spawn(async move {
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < count {
                    let response = client
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&json!({"title": "Seeded task", "description": "bench"}))
                        .send()
                        .await
                        .expect("create");
                    assert_eq!(response.status(), 201, "create a task");
                }
            })
        })
        .collect();
    for creator in creators {
        creator.await.expect("creator");
    }
}

/// Completes `count` of the caller's open tasks (from the first page of
/// `GET /v1/tasks/mine?status=open`).
async fn complete_some(system: &System, client: &reqwest::Client, token: &str, count: usize) {
    let page: Value = client
        .get(system.url(
            "tasks-api",
            &format!("/v1/tasks/mine?status=open&per_page={count}"),
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("my tasks")
        .json()
        .await
        .expect("a page");
    let ids: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|task| task["id"].as_str())
        .collect();
    assert_eq!(ids.len(), count, "open tasks to complete");
    for id in ids {
        let response = client
            .post(system.url("tasks-api", &format!("/v1/tasks/{id}/complete")))
            .bearer_auth(token)
            .send()
            .await
            .expect("complete");
        assert_eq!(response.status(), 200, "complete a task");
    }
}

/// Waits until accounting's ledger and analytics hold a fee for every task
/// tasks-api has (and `rewards` rewards): the services are idle after.
/// Then, on PostgreSQL, updates the planner's statistics of the three
/// databases.
async fn settle(system: &System, rewards: i64) {
    let tasks = db::connect(system.database_url("tasks-api"), 1)
        .await
        .expect("tasks' database");
    let ledger = db::connect(system.database_url("accounting-api"), 1)
        .await
        .expect("accounting's database");
    let analytics = db::connect(system.database_url("analytics-api"), 1)
        .await
        .expect("analytics' database");
    let created = count(&tasks, "SELECT COUNT(*) AS n FROM tasks").await;
    let started = Instant::now();
    for (name, db, table) in [
        ("accounting", &ledger, "transactions"),
        ("analytics", &analytics, "ledger_entries"),
    ] {
        loop {
            let fees = count(
                db,
                &format!("SELECT COUNT(*) AS n FROM {table} WHERE kind = 'assignment_fee'"),
            )
            .await;
            let paid = count(
                db,
                &format!("SELECT COUNT(*) AS n FROM {table} WHERE kind = 'task_reward'"),
            )
            .await;
            if fees == created && paid == rewards {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(900),
                "{name} holds {fees} fees of {created} tasks and {paid} of {rewards} rewards"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // On PostgreSQL, fresh planner statistics as autovacuum (its default,
    // off on some servers) leaves them: a plan made without statistics can
    // read a whole account's day to return a page. SQLite is left as the
    // services leave it (they run no `ANALYZE`).
    for db in [tasks, ledger, analytics] {
        if db.get_database_backend() == sea_orm::DbBackend::Postgres {
            db.execute_unprepared("ANALYZE").await.expect("ANALYZE");
        }
        db.close().await.expect("closed");
    }
}

/// tasks-api's list, for a cursor into its middle.
#[derive(Debug)]
enum TaskList {}

impl Keyset for TaskList {
    const LIST: &'static str = "tasks";
    type Key = chrono::DateTime<Utc>;
}

/// A cursor to the middle of `GET /v1/tasks` (newest first).
async fn middle_of_tasks(system: &System) -> String {
    let tasks = db::connect(system.database_url("tasks-api"), 1)
        .await
        .expect("tasks' database");
    let total = count(&tasks, "SELECT COUNT(*) AS n FROM tasks").await;
    let row = tasks
        .query_one_raw(Statement::from_string(
            tasks.get_database_backend(),
            format!(
                "SELECT id, created_at FROM tasks ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET {}",
                total / 2
            ),
        ))
        .await
        .expect("query")
        .expect("a task");
    let position = Position {
        key: row
            .try_get::<chrono::DateTime<Utc>>("", "created_at")
            .expect("created_at"),
        id: row.try_get::<Uuid>("", "id").expect("id"),
    };
    tasks.close().await.expect("closed");
    Cursor::<TaskList>::encode(&position)
}

/// The median time of `SIZE_SAMPLES` requests one after another on a
/// kept-alive connection (after three to warm up); each must answer 200.
async fn median_time(client: &reqwest::Client, url: &str, token: &str) -> Duration {
    let mut samples = Vec::with_capacity(SIZE_SAMPLES);
    for index in 0..SIZE_SAMPLES + 3 {
        let sent = Instant::now();
        let response = client
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .expect("a response");
        let status = response.status();
        let body = response.bytes().await.expect("a body");
        assert_eq!(status, 200, "{url}: {}", String::from_utf8_lossy(&body));
        if index >= 3 {
            samples.push(sent.elapsed());
        }
    }
    percentile(&mut samples, 50)
}

/// Each list and per-day query's median time, by name.
async fn size_measures(
    system: &System,
    client: &reqwest::Client,
    worker: &str,
    admin: &str,
) -> Vec<(String, Duration)> {
    let today = Utc::now().date_naive();
    let month_ago = today - chrono::Days::new(30);
    let middle = middle_of_tasks(system).await;
    let probes = [
        (
            "GET /v1/tasks, first page",
            "tasks-api",
            "/v1/tasks".to_owned(),
            admin,
        ),
        (
            "GET /v1/tasks, a page from the middle (cursor)",
            "tasks-api",
            format!("/v1/tasks?cursor={middle}"),
            admin,
        ),
        (
            "GET /v1/tasks/mine, first page",
            "tasks-api",
            "/v1/tasks/mine".to_owned(),
            worker,
        ),
        (
            "audit log of the day, first page (GET /v1/me/transactions)",
            "accounting-api",
            "/v1/me/transactions".to_owned(),
            worker,
        ),
        (
            "management earnings over 31 days",
            "accounting-api",
            format!("/v1/stats/management?from={month_ago}&to={today}"),
            admin,
        ),
        (
            "most expensive task of the month",
            "analytics-api",
            "/v1/most-expensive-task?period=month".to_owned(),
            admin,
        ),
        (
            "dashboard of today",
            "analytics-api",
            "/v1/dashboard/today".to_owned(),
            admin,
        ),
    ];
    let mut measures = Vec::new();
    for (name, service, path, token) in probes {
        let time = median_time(client, &system.url(service, &path), token).await;
        measures.push((name.to_owned(), time));
    }
    measures
}

/// Gives `count` new workers a reward of `cents` in accounting's open
/// cycle, written as its ledger writes one: the account in its replica,
/// the transaction, the balance and the earnings of the quarter hour (not
/// the outbox events, which nothing here reads), a thousand to a
/// transaction. Returns how long it took.
async fn seed_earners(db: &DatabaseConnection, count: usize, cents: i64) -> Duration {
    use sea_orm::sea_query::{Alias, Query};
    let started = Instant::now();
    let cycle = id_of(db, "SELECT id FROM billing_cycles WHERE status = 'open'").await;
    let ids: Vec<Uuid> = (0..count).map(|_| Uuid::now_v7()).collect();
    ates_core::testing::seed_replica(db, &ids).await;
    let now = ates_core::db::now();
    for chunk in ids.chunks(1000) {
        let txn = db::begin_write(db).await.expect("a transaction");
        let mut insert = Query::insert();
        insert.into_table(Alias::new("transactions")).columns(
            [
                "id",
                "account_id",
                "kind",
                "amount_cents",
                "task_id",
                "billing_cycle_id",
                "created_at",
            ]
            .map(Alias::new),
        );
        for account in chunk {
            insert.values_panic([
                Uuid::now_v7().into(),
                (*account).into(),
                "task_reward".into(),
                cents.into(),
                Uuid::now_v7().into(),
                cycle.into(),
                now.into(),
            ]);
        }
        txn.execute(&insert).await.expect("the rewards are written");
        ates_core::balances::add(&txn, chunk.iter().map(|account| (*account, cents)))
            .await
            .expect("the balances are written");
        ates_core::quarter_hours::add_earnings(&txn, chunk.iter().map(|_| (now, -cents)))
            .await
            .expect("the earnings are written");
        txn.commit().await.expect("commit");
    }
    started.elapsed()
}

/// `POST /v1/billing-cycles/close` as the admin; the summary.
async fn close_day(system: &System, admin: &str) -> Value {
    let response = reqwest::Client::new()
        .post(system.url("accounting-api", "/v1/billing-cycles/close"))
        .bearer_auth(admin)
        .timeout(Duration::from_secs(900))
        .send()
        .await
        .expect("the close answers");
    assert_eq!(response.status(), 200, "close the day");
    response.json().await.expect("a summary")
}

/// What the close with a crash in the middle found.
struct CrashedClose {
    owed: i64,
    paid_at_crash: i64,
    payouts: i64,
    paid_accounts: i64,
    emails: i64,
    positive_after: i64,
}

/// Closes the day with `CLOSE_ACCOUNTS` more earners, `kill -9`s
/// accounting-api once a third of them are paid, starts it again (its
/// start finishes the close) and counts what was paid and mailed.
async fn close_with_a_crash(system: &mut System, admin: &str) -> CrashedClose {
    let ledger = db::connect(system.database_url("accounting-api"), 1)
        .await
        .expect("accounting's database");
    seed_earners(&ledger, CLOSE_ACCOUNTS, 1_500).await;
    let owed = count(
        &ledger,
        "SELECT COUNT(*) AS n FROM balances WHERE balance_cents > 0",
    )
    .await;
    let close = {
        let (url, admin) = (
            system.url("accounting-api", "/v1/billing-cycles/close"),
            admin.to_owned(),
        );
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(admin)
                .send()
                .await
        })
    };
    let paying = "SELECT COUNT(*) AS n FROM payouts p JOIN billing_cycles c \
                  ON c.id = p.billing_cycle_id WHERE c.status = 'closing'";
    let started = Instant::now();
    let paid_at_crash = loop {
        let paid = count(&ledger, paying).await;
        if paid >= owed / 3 {
            break paid;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the close paid {paid} of {owed} in ten minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    system.crash_and_restart("accounting-api").await;
    assert!(
        close.await.expect("the request task").is_err(),
        "the crashed close's request fails"
    );
    let cycle = id_of(
        &ledger,
        "SELECT id FROM billing_cycles WHERE status = 'closed' ORDER BY seq DESC LIMIT 1",
    )
    .await;
    let crashed = CrashedClose {
        owed,
        paid_at_crash,
        payouts: count_of_cycle(
            &ledger,
            "SELECT COUNT(*) AS n FROM payouts WHERE billing_cycle_id = {cycle}",
            cycle,
        )
        .await,
        paid_accounts: count_of_cycle(
            &ledger,
            "SELECT COUNT(DISTINCT account_id) AS n FROM payouts WHERE billing_cycle_id = {cycle}",
            cycle,
        )
        .await,
        emails: count_of_cycle(
            &ledger,
            "SELECT COUNT(*) AS n FROM payout_emails e JOIN payouts p ON p.id = e.payout_id \
             WHERE p.billing_cycle_id = {cycle}",
            cycle,
        )
        .await,
        positive_after: count(
            &ledger,
            "SELECT COUNT(*) AS n FROM balances WHERE balance_cents > 0",
        )
        .await,
    };
    ledger.close().await.expect("closed");
    crashed
}

/// Payout emails handed to SMTP (or stored) so far.
async fn emails_out(ledger: &DatabaseConnection) -> i64 {
    count(
        ledger,
        "SELECT COUNT(*) AS n FROM payout_emails WHERE status <> 'pending'",
    )
    .await
}

/// `pgbench -N` with `CONNECTIONS` clients for `seconds` on a fresh
/// database of scale 10 on `TEST_DATABASE_URL`'s server: transactions a
/// second, the ceiling of the PostgreSQL rows.
async fn pgbench(seconds: u64) -> Option<f64> {
    if store_name() != "PostgreSQL" {
        return None;
    }
    let database = TestDatabase::create().await;
    let run = |args: &[&str]| {
        let output = Command::new("pgbench")
            .args(args)
            .arg(database.url())
            .output()
            .expect("pgbench runs (Debian's postgresql-contrib, or postgresql-client)");
        assert!(
            output.status.success(),
            "pgbench failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    run(&["-i", "-q", "-s", "10"]);
    let report = run(&[
        "-N",
        "-c",
        &CONNECTIONS.to_string(),
        "-j",
        "2",
        "-T",
        &seconds.to_string(),
    ]);
    report
        .lines()
        .find_map(|line| line.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|tps| tps.parse().ok())
}

fn statuses(counts: &HashMap<u16, usize>) -> String {
    let mut counts: Vec<_> = counts.iter().collect();
    counts.sort();
    counts
        .iter()
        .map(|(status, count)| format!("{count} × {status}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(15);
    let events: usize = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(20_000);
    let targets = targets();
    let server = NatsServer::start().await;
    let mut rows = Vec::new();

    // The ceilings first, while the machine is quiet: raw JetStream next to
    // the relay on the same server (three alternating rounds, the median of
    // each), and on PostgreSQL pgbench on the same server.
    let mut rounds: Vec<(f64, f64, f64)> = Vec::new();
    for round in 0..RELAY_ROUNDS {
        rounds.push(relay_next_to_raw(&server.url(), events, round).await);
    }
    let median = |pick: fn(&(f64, f64, f64)) -> f64| {
        let mut values: Vec<f64> = rounds.iter().map(pick).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let (raw_rate, outbox_rate, relay_rate) = (median(|r| r.0), median(|r| r.1), median(|r| r.2));
    let pgbench_tps = pgbench(seconds).await;

    // 1. The services.
    let mut system = System::start(&server.url()).await;
    let client = reqwest::Client::new();
    let token = workers(&system, &client, 5).await;
    let admin = login(&system, &client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let create_url = system.url("tasks-api", "/v1/tasks");
    let create = {
        let (client, url, token) = (client.clone(), create_url.clone(), token.clone());
        move || {
            client
                .post(&url)
                .bearer_auth(&token)
                .json(&json!({"title": "Pipeline task", "description": "bench"}))
        }
    };
    // The workers reach tasks-api's replica by events: wait for them.
    let started = Instant::now();
    while create().send().await.expect("create").status() != 201 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no eligible worker"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The size measures at 1,000 tasks of the day (with 20 completed).
    create_tasks(&client, &create_url, &token, SMALL_TASKS - 21).await;
    complete_some(&system, &client, &token, 20).await;
    let mut rewards = 20;
    settle(&system, rewards).await;
    let small = size_measures(&system, &client, &token, &admin).await;

    let ledger = db::connect(system.database_url("accounting-api"), 1)
        .await
        .expect("accounting's database");
    let fees_before = fees(&ledger).await;
    let phase = Instant::now();
    let mut posts = load(Duration::from_secs(seconds), 201, create.clone()).await;
    let expected = fees_before + i64::try_from(posts.requests).expect("a count of requests");
    while fees(&ledger).await < expected {
        assert!(
            phase.elapsed() < Duration::from_secs(600),
            "the ledger never caught up"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pipeline = posts.requests as f64 / phase.elapsed().as_secs_f64();
    let mine_tasks = i64::try_from(SMALL_TASKS + posts.requests).unwrap_or(i64::MAX) / 5;

    let mut mine = {
        let (client, url, token) = (
            client.clone(),
            system.url("tasks-api", "/v1/tasks/mine"),
            token.clone(),
        );
        load(Duration::from_secs(seconds), 200, move || {
            client.get(&url).bearer_auth(&token)
        })
        .await
    };

    // What metrics and tracing cost: the same loads with both off and on.
    let mut overhead = {
        let (client, url, token) = (
            client.clone(),
            system.url("tasks-api", "/v1/tasks/mine"),
            token.clone(),
        );
        let mine = move || client.get(&url).bearer_auth(&token);
        overhead(
            &mut system,
            &ledger,
            Duration::from_secs(seconds),
            create.clone(),
            mine,
        )
        .await
    };

    let bus = EventBus::connect(&BusConfig {
        nats_url: server.url(),
        subject_prefix: None,
        service: "bench".into(),
        ..BusConfig::default()
    })
    .await
    .expect("connect");
    let mut lag = lags(&bus, &client, &create_url, &token).await;
    let mut storm = login_storm(&system, Duration::from_secs(seconds)).await;
    let guesses = simultaneous_guesses(&system).await;

    // The size measures again at 200,000 tasks of the day.
    let tasks_db = db::connect(system.database_url("tasks-api"), 1)
        .await
        .expect("tasks' database");
    let so_far = count(&tasks_db, "SELECT COUNT(*) AS n FROM tasks").await;
    tasks_db.close().await.expect("closed");
    let top_up = LARGE_TASKS.saturating_sub(usize::try_from(so_far).unwrap_or(LARGE_TASKS));
    create_tasks(&client, &create_url, &token, top_up).await;
    complete_some(&system, &client, &token, 20).await;
    rewards += 20;
    settle(&system, rewards).await;
    let large = size_measures(&system, &client, &token, &admin).await;

    // The close of the day with 100,000 earners; then another with a
    // crash in the middle.
    let seeding = seed_earners(&ledger, CLOSE_ACCOUNTS, 2_000).await;
    eprintln!(
        "seeded {CLOSE_ACCOUNTS} earners in {:.1} s",
        seeding.as_secs_f64()
    );
    let owed = count(
        &ledger,
        "SELECT COUNT(*) AS n FROM balances WHERE balance_cents > 0",
    )
    .await;
    let closing = Instant::now();
    let summary = close_day(&system, &admin).await;
    let close_time = closing.elapsed();
    let paid = summary["cycle"]["payments_count"]
        .as_i64()
        .expect("a count");
    assert_eq!(paid, owed, "every positive balance paid");
    let mails_from = emails_out(&ledger).await;
    tokio::time::sleep(MAIL_WATCH).await;
    let mail_rate = (emails_out(&ledger).await - mails_from) as f64 / MAIL_WATCH.as_secs_f64();
    let rss_before_crash = system.peak_rss_of("accounting-api");
    let crashed = close_with_a_crash(&mut system, &admin).await;
    let mut peak_rss = system.peak_rss();
    for (service, mib) in &mut peak_rss {
        if *service == "accounting-api" {
            *mib = mib.max(rss_before_crash);
        }
    }
    drop(system);

    for (name, phase, rate_target, p99_target) in [
        (
            "POST /v1/tasks",
            &mut posts,
            targets.post_rate,
            Some(targets.post_p99_ms),
        ),
        ("GET /v1/tasks/mine", &mut mine, targets.mine_rate, None),
    ] {
        let p99 = ms(percentile(&mut phase.latencies, 99));
        let met = phase.rate() >= rate_target && p99_target.is_none_or(|target| p99 < target);
        rows.push(row(
            format!("{name}, {CONNECTIONS} connections, {seconds} s"),
            format!(
                "{:.0} req/s, p50 {:.1} ms, p99 {p99:.1} ms",
                phase.rate(),
                ms(percentile(&mut phase.latencies, 50)),
            ),
            match p99_target {
                Some(target) => format!(
                    ">= {rate_target:.0} req/s, p99 < {target:.0} ms: {}",
                    verdict(met)
                ),
                None => format!(
                    ">= {rate_target:.0} req/s (caller with ~{mine_tasks} tasks): {}",
                    verdict(met)
                ),
            },
        ));
    }
    rows.push(row(
        "pipeline HTTP -> outbox -> JetStream -> ledger, sustained",
        format!("{pipeline:.0} tasks/s"),
        format!(
            ">= {:.0}: {}",
            targets.pipeline,
            verdict(pipeline >= targets.pipeline)
        ),
    ));
    rows.extend(overhead_rows(&mut overhead, seconds));
    let (p50, p99) = (ms(percentile(&mut lag, 50)), ms(percentile(&mut lag, 99)));
    rows.push(row(
        format!("event lag create -> fee applied at {LAG_RATE} tasks/s, p50 / p99"),
        format!("{p50:.1} ms / {p99:.1} ms"),
        format!(
            "p99 < {:.0} ms: {}",
            targets.lag_p99_ms,
            verdict(p99 < targets.lag_p99_ms)
        ),
    ));

    // The ceilings and the relay next to them.
    let share = 100.0 * relay_rate / raw_rate;
    rows.push(row(
        format!("raw JetStream async publish, {events} events, acked (median of {RELAY_ROUNDS})"),
        format!("{raw_rate:.0} events/s"),
        "ceiling",
    ));
    rows.push(row(
        "outbox relay drain, same events and server",
        format!("{relay_rate:.0} events/s = {share:.0}% of raw"),
        format!(
            ">= {RELAY_SHARE_TARGET:.0}% of raw: {}",
            verdict(share >= RELAY_SHARE_TARGET)
        ),
    ));
    rows.push(row(
        "outbox write, validated, 500 per transaction",
        format!("{outbox_rate:.0} events/s"),
        "",
    ));
    if let Some(tps) = pgbench_tps {
        rows.push(row(
            format!("pgbench -N, {CONNECTIONS} clients, scale 10, {seconds} s, same server"),
            format!("{tps:.0} TPS"),
            "ceiling",
        ));
    }

    // The close of the day.
    rows.push(row(
        format!("close of the day, {owed} accounts with a positive balance: last payout written"),
        format!("{:.1} s", close_time.as_secs_f64()),
        format!(
            "<= {CLOSE_TARGET_SECONDS:.0} s: {}",
            verdict(close_time.as_secs_f64() <= CLOSE_TARGET_SECONDS)
        ),
    ));
    rows.push(row(
        format!(
            "payout emails after it (MAIL_PER_SECOND={MAIL_PER_SECOND}), over {} s",
            MAIL_WATCH.as_secs()
        ),
        format!("{mail_rate:.0} /s"),
        format!(
            "steady at the set rate: {}",
            verdict(
                mail_rate <= f64::from(MAIL_PER_SECOND) * 1.05
                    && mail_rate >= f64::from(MAIL_PER_SECOND) * 0.8
            )
        ),
    ));
    let crash_clean = crashed.payouts == crashed.owed
        && crashed.paid_accounts == crashed.owed
        && crashed.emails == crashed.owed
        && crashed.positive_after == 0;
    rows.push(row(
        format!(
            "close of {} accounts, accounting-api killed (-9) after {} payouts, restarted",
            crashed.owed, crashed.paid_at_crash
        ),
        format!(
            "{} payouts to {} accounts, {} emails, {} positive balances left",
            crashed.payouts, crashed.paid_accounts, crashed.emails, crashed.positive_after
        ),
        format!("each paid and mailed once: {}", verdict(crash_clean)),
    ));

    // The size measures.
    for ((name, small), (_, large)) in small.iter().zip(&large) {
        let ratio = large.as_secs_f64() / small.as_secs_f64();
        rows.push(row(
            format!(
                "{name}, median of {SIZE_SAMPLES}: {SMALL_TASKS} -> {LARGE_TASKS} tasks of the day"
            ),
            format!("{:.2} ms -> {:.2} ms = {ratio:.2}x", ms(*small), ms(*large)),
            format!(
                "<= {SIZE_RATIO_TARGET}x: {}",
                verdict(ratio <= SIZE_RATIO_TARGET)
            ),
        ));
    }

    let honest_p99 = ms(percentile(&mut storm.honest, 99));
    rows.push(row(
        format!(
            "honest login every 100 ms (from where it logged in before) while {STORM_CLIENTS} clients hammer wrong passwords (new email and address each), {seconds} s, p50 / p99"
        ),
        format!(
            "{:.1} ms / {honest_p99:.1} ms ({})",
            ms(percentile(&mut storm.honest, 50)),
            statuses(&storm.honest_statuses)
        ),
        format!(
            "p99 < {HONEST_LOGIN_P99_TARGET_MS:.0} ms: {}",
            verdict(honest_p99 < HONEST_LOGIN_P99_TARGET_MS)
        ),
    ));
    let newcomer_p99 = ms(percentile(&mut storm.newcomer, 99));
    rows.push(row(
        "the same, an honest client from a new address each time, p50 / p99",
        format!(
            "{:.1} ms / {newcomer_p99:.1} ms ({})",
            ms(percentile(&mut storm.newcomer, 50)),
            statuses(&storm.newcomer_statuses)
        ),
        format!(
            "p99 < {HONEST_LOGIN_P99_TARGET_MS:.0} ms: {}",
            verdict(newcomer_p99 < HONEST_LOGIN_P99_TARGET_MS)
        ),
    ));
    let per_second = |status: u16| {
        storm.storm_statuses.get(&status).copied().unwrap_or(0) as f64 / storm.elapsed.as_secs_f64()
    };
    rows.push(row(
        "the storm meanwhile: checked (401) / refused at once, queue full (503)",
        format!(
            "{:.0} /s / {:.0} /s ({})",
            per_second(401),
            per_second(503),
            statuses(&storm.storm_statuses)
        ),
        "",
    ));
    let checked = guesses.get(&401).copied().unwrap_or(0);
    rows.push(row(
        format!("password checks run for {GUESSES} simultaneous wrong guesses at one email"),
        format!("{checked} ({})", statuses(&guesses)),
        format!(
            "= LOGIN_MAX_FAILURES ({LOGIN_MAX_FAILURES}): {}",
            verdict(checked == LOGIN_MAX_FAILURES)
        ),
    ));

    // Registry validation of one event, the cost every publish and every
    // receipt pays.
    let sample = serde_json::to_value(&envelopes(1)[0]).expect("serializes");
    let rounds = 200_000u32;
    let started = Instant::now();
    for _ in 0..rounds {
        event_schemas::validate("tasks.completed", 1, &sample).expect("valid");
    }
    let validation_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
    rows.push(row(
        "registry validation of one event",
        format!("{validation_us:.2} µs"),
        format!(
            "< {VALIDATION_TARGET_US:.0} µs: {}",
            verdict(validation_us < VALIDATION_TARGET_US)
        ),
    ));
    let hashing_threads = std::thread::available_parallelism().map_or(2, usize::from) as f64;
    for (service, mib) in peak_rss {
        let (target, note) = if service == "auth-api" {
            (
                RSS_TARGET_MIB + ARGON2_MIB * hashing_threads,
                format!(" + {ARGON2_MIB:.0} MiB x {hashing_threads:.0} hashing threads"),
            )
        } else {
            (RSS_TARGET_MIB, String::new())
        };
        rows.push(row(
            format!("peak RSS of {service} (whole run)"),
            format!("{mib:.0} MiB"),
            format!(
                "<= {RSS_TARGET_MIB:.0} MiB{note}: {}",
                verdict(mib <= target)
            ),
        ));
    }

    println!(
        "| measure ({} cores, {}, release build) | value | target |",
        std::thread::available_parallelism().map_or(0, usize::from),
        store_name()
    );
    println!("|---|---|---|");
    for row in rows {
        println!("| {} | {} | {} |", row.measure, row.value, row.target);
    }
}
