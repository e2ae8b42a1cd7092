//! The integration-test harness every service's tests use: a real
//! JetStream broker (a private `nats-server` on a free port with a
//! temporary store, or `NATS_URL` with a namespace of its own) and a fresh
//! database (a SQLite file, or a new PostgreSQL database on the server of
//! `TEST_DATABASE_URL`).

mod query_plans;
pub use query_plans::{
    SqlLog, assert_no_whole_table_reads, large_tables, seed_replica, whole_table_reads,
};

use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection};
use tempfile::TempDir;
use tokio::process::{Child, Command};
use uuid::Uuid;

use crate::bus::permissions::{self, Generated};
use crate::bus::{BusConfig, BusCredentials, BusTls, EventBus, Naming};
use crate::config::{AuthKeys, ServiceSettings};
use crate::db;
use crate::http::HttpSettings;
use crate::service::AtesService;

/// Polls `check` until it returns `Some`, or panics with `what` after
/// `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn nats_server_binary() -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([
            "/usr/sbin".into(),
            "/usr/local/bin".into(),
            "/usr/bin".into(),
        ])
        .map(|dir| dir.join("nats-server"));
    for candidate in candidates {
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "nats-server is not installed: install it with `apt-get install -y nats-server` \
         (or run `make test`, which does), or point NATS_URL at a JetStream server"
    );
}

/// A local TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free local port")
}

/// A private `nats-server -js` that a test can stop and start again (same
/// port, same store) to play a broker outage, optionally with more
/// arguments (a configuration with users, `--user`/`--pass`, `--auth`, TLS).
pub struct NatsServer {
    port: u16,
    store: TempDir,
    child: Option<Child>,
    args: Vec<String>,
}

impl std::fmt::Debug for NatsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsServer")
            .field("port", &self.port)
            .field("running", &self.child.is_some())
            .finish()
    }
}

impl NatsServer {
    /// Starts a server on a free port with a temporary store.
    pub async fn start() -> Self {
        let mut server = Self::reserve();
        server.resume().await;
        server
    }

    /// Picks a port and store without starting the server (a broker that
    /// is down from the start).
    pub fn reserve() -> Self {
        Self {
            port: free_port(),
            store: tempfile::tempdir().expect("a temporary directory"),
            child: None,
            args: Vec::new(),
        }
    }

    /// Starts a server with more `nats-server` arguments.
    pub async fn start_with(args: &[&str]) -> Self {
        let mut server = Self::reserve();
        server.set_args(args);
        server.resume().await;
        server
    }

    /// The extra arguments of the next [`Self::resume`] (e.g. another
    /// password after a stop).
    pub fn set_args(&mut self, args: &[&str]) {
        self.args = args.iter().map(|arg| (*arg).to_owned()).collect();
    }

    /// The port it listens on (for URLs of another scheme, e.g. `tls://`).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port and store and waits until it
    /// accepts connections.
    pub async fn resume(&mut self) {
        if self.child.is_some() {
            return;
        }
        let child = Command::new(nats_server_binary())
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.store.path())
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let address = format!("127.0.0.1:{}", self.port);
        eventually(Duration::from_secs(10), "nats-server to listen", || {
            let address = address.clone();
            async move { tokio::net::TcpStream::connect(address).await.ok() }
        })
        .await;
    }

    /// Stops the server (a broker outage).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("nats-server stops");
        }
    }
}

/// The broker a test talks to.
#[derive(Debug)]
pub struct TestBroker {
    url: String,
    prefix: Option<String>,
    server: Option<NatsServer>,
    /// A broker with the generated per-service users: their seeds.
    secured: Option<(TempDir, Generated)>,
    /// What every connection presents on a broker that is not `secured`.
    credentials: BusCredentials,
    tls: BusTls,
}

impl TestBroker {
    /// `NATS_URL` when set (each test gets a subject prefix of its own, so
    /// tests never see each other's events), else a private server.
    pub async fn start() -> Self {
        match std::env::var("NATS_URL") {
            Ok(url) if !url.trim().is_empty() => Self {
                url,
                prefix: Some(format!("t{}", Uuid::new_v4().simple())),
                server: None,
                secured: None,
                credentials: BusCredentials::None,
                tls: BusTls::default(),
            },
            _ => Self::private().await,
        }
    }

    /// Always a private server, for tests that stop and start the broker.
    pub async fn private() -> Self {
        Self::on(
            NatsServer::start().await,
            BusCredentials::None,
            BusTls::default(),
        )
    }

    /// A private server with authorization: the per-service users and
    /// permission set of [`permissions`], generated as `make run` does.
    /// Each aTES service (by its name) connects as itself; every other
    /// connection (test tools, observers) as the unrestricted operator.
    pub async fn secured() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let generated = permissions::generate(dir.path(), &Naming::new(None), &[], None)
            .expect("the NATS configuration is generated");
        let config = generated.server_config.display().to_string();
        let server = NatsServer::start_with(&["-c", &config]).await;
        let mut broker = Self::on(server, BusCredentials::None, BusTls::default());
        broker.secured = Some((dir, generated));
        broker
    }

    /// A broker on a private `server` that every connection reaches with
    /// `credentials` and `tls`.
    pub fn on(server: NatsServer, credentials: BusCredentials, tls: BusTls) -> Self {
        Self {
            url: server.url(),
            prefix: None,
            server: Some(server),
            secured: None,
            credentials,
            tls,
        }
    }

    /// The nkey seed file of an identity of a [`Self::secured`] broker.
    pub fn seed_file(&self, identity: &str) -> PathBuf {
        let (dir, _) = self.secured.as_ref().expect("a secured broker");
        permissions::seed_file(dir.path(), identity)
    }

    /// A bus configuration for `service` connecting as `identity` (of a
    /// [`Self::secured`] broker).
    pub fn bus_config_as(&self, service: &str, identity: &str) -> BusConfig {
        BusConfig {
            credentials: BusCredentials::NkeySeedFile(self.seed_file(identity)),
            ..self.bus_config(service)
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn prefix(&self) -> Option<&str> {
        self.prefix.as_deref()
    }

    /// The private server, for outage tests.
    pub fn server(&mut self) -> &mut NatsServer {
        self.server
            .as_mut()
            .expect("outage tests use TestBroker::private()")
    }

    /// A bus configuration for `service` on this broker.
    pub fn bus_config(&self, service: &str) -> BusConfig {
        let credentials = match &self.secured {
            Some((dir, _)) => {
                let identity =
                    permissions::role(service).map_or(permissions::OPERATOR, |role| role.service);
                BusCredentials::NkeySeedFile(permissions::seed_file(dir.path(), identity))
            }
            None => self.credentials.clone(),
        };
        BusConfig {
            nats_url: self.url.clone(),
            subject_prefix: self.prefix.clone(),
            service: service.to_owned(),
            credentials,
            tls: self.tls.clone(),
            stream_replicas: 1,
        }
    }
}

/// A fresh, empty database for one test.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    _dir: Option<TempDir>,
}

impl TestDatabase {
    /// A new database on the PostgreSQL server of `TEST_DATABASE_URL`
    /// (named `ates_test_<uuid>`; drop them with `make test-db-clean`), or
    /// else a new SQLite file in a temporary directory.
    pub async fn create() -> Self {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin_url) if admin_url.starts_with("postgres") => Self::postgres(&admin_url).await,
            _ => Self::sqlite(),
        }
    }

    fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("test.sqlite").display()
        );
        Self {
            url,
            _dir: Some(dir),
        }
    }

    async fn postgres(admin_url: &str) -> Self {
        let name = format!("ates_test_{}", Uuid::new_v4().simple());
        let admin = db::connect(admin_url, 1).await.unwrap_or_else(|error| {
            panic!("cannot reach TEST_DATABASE_URL={admin_url}: {error} (is PostgreSQL running?)")
        });
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("CREATE DATABASE for the test");
        admin.close().await.ok();
        Self {
            url: with_database(admin_url, &name),
            _dir: None,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// An empty stand-in, for moving a database out of a harness.
    pub fn placeholder() -> Self {
        Self {
            url: String::new(),
            _dir: None,
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres")
    }

    /// Connects with a small pool.
    pub async fn connect(&self) -> DatabaseConnection {
        db::connect(&self.url, 5)
            .await
            .unwrap_or_else(|error| panic!("cannot open test database {}: {error}", self.url))
    }
}

/// `postgres://user@host:5432/postgres?x=y` with another database name.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |index| index + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

/// Settings for a service under test: a free port, the test database and
/// broker, a small pool, CORS for `https://spa.popug.inc`, a 16 KiB body
/// limit, and auth-api's keys at `jwks_url`.
pub fn service_settings(
    service: &str,
    database: &TestDatabase,
    broker: &TestBroker,
    jwks_url: &str,
) -> ServiceSettings {
    ServiceSettings {
        bind_addr: "127.0.0.1:0".into(),
        database_url: database.url().to_owned(),
        database_max_connections: 5,
        bus: broker.bus_config(service),
        http: HttpSettings {
            cors_allowed_origins: vec!["https://spa.popug.inc".into()],
            max_body_bytes: 16 * 1024,
            idempotency_window: crate::idempotency::DEFAULT_WINDOW,
            ..HttpSettings::default()
        },
        jwt_issuer: "ates-auth".into(),
        jwt_audience: "ates".into(),
        auth_keys: AuthKeys::Url(jwks_url.to_owned()),
        consumer_name: service.to_owned(),
        consumer_max_deliver: 10,
        consumer_retry_base: Duration::from_millis(500),
        business_timezone: chrono_tz::UTC,
        metrics: true,
    }
}

/// Every event in a domain's stream (oldest first), each checked against
/// the registry: a test fails on an event that breaks its schema.
pub async fn published_events(bus: &EventBus, domain: &str) -> Vec<serde_json::Value> {
    published_messages(bus, domain)
        .await
        .into_iter()
        .map(|(event, _)| event)
        .collect()
}

/// [`published_events`] with each message's NATS headers.
pub async fn published_messages(
    bus: &EventBus,
    domain: &str,
) -> Vec<(serde_json::Value, async_nats::HeaderMap)> {
    stored_messages(bus, domain)
        .await
        .into_iter()
        .map(|message| {
            let event: serde_json::Value =
                serde_json::from_slice(&message.payload).expect("events are JSON");
            if let Err(error) = event_schemas::validate_envelope(&event) {
                panic!("published event breaks the registry: {error}: {event}");
            }
            (event, message.headers.clone().unwrap_or_default())
        })
        .collect()
}

/// Every message of a domain's stream as JetStream stored it (oldest
/// first, with its metadata); none when the stream does not exist.
pub async fn stored_messages(bus: &EventBus, domain: &str) -> Vec<async_nats::jetstream::Message> {
    use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
    use futures::StreamExt;

    let Ok(mut stream) = bus
        .jetstream()
        .get_stream(bus.naming().domain_stream(domain))
        .await
    else {
        return Vec::new();
    };
    let count = stream.info().await.expect("stream info").state.messages;
    if count == 0 {
        return Vec::new();
    }
    let reader = stream
        .create_consumer(pull::Config {
            deliver_policy: DeliverPolicy::All,
            ack_policy: AckPolicy::None,
            inactive_threshold: Duration::from_secs(10),
            ..Default::default()
        })
        .await
        .expect("a reader on the stream");
    reader
        .fetch()
        .max_messages(usize::try_from(count).expect("count fits"))
        .expires(Duration::from_secs(5))
        .messages()
        .await
        .expect("fetch")
        .map(|message| message.expect("a message"))
        .collect()
        .await
}

/// A service the harness starts: how a test configures it, and the typed
/// client of its API.
pub trait TestedService: AtesService {
    /// Its endpoints as typed methods: one client per service, used by
    /// every test of that service ([`RunningService`] derefs to it).
    type Client;

    /// The typed client over plain requests to the service's address.
    fn client(http: ApiClient) -> Self::Client;

    /// A configuration for a test: the common `settings` (a test database,
    /// broker and auth's JWKS, from [`service_settings`]) and nothing
    /// scheduled that a test does by hand.
    fn test_config(settings: ServiceSettings) -> Self::Config;
}

/// HTTP requests to one service's address, with a bearer token: what every
/// typed test client is made of.
#[derive(Debug, Clone)]
pub struct ApiClient {
    pub address: String,
    pub client: reqwest::Client,
}

impl ApiClient {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("the service answers")
    }

    /// A GET that must answer 200 with a JSON body of type `T`.
    pub async fn get_ok<T: serde::de::DeserializeOwned>(&self, path: &str, token: &str) -> T {
        let response = self.get(path, token).await;
        answer(response, reqwest::StatusCode::OK, &format!("GET {path}")).await
    }

    /// Every item of the list at `path`, following `next_cursor` page by
    /// page (100 a page); each page must answer 200.
    pub async fn get_all<T: serde::de::DeserializeOwned>(&self, path: &str, token: &str) -> Vec<T> {
        let mut next: Option<String> = None;
        let mut items = Vec::new();
        loop {
            let url = page_path(path, next.as_deref());
            let page: Paged<T> = self.get_ok(&url, token).await;
            items.extend(page.items);
            match page.next_cursor {
                Some(cursor) => {
                    assert_ne!(
                        next.as_ref(),
                        Some(&cursor),
                        "GET {url}: the cursor did not move on"
                    );
                    next = Some(cursor);
                }
                None => return items,
            }
        }
    }

    pub async fn post(
        &self,
        path: &str,
        token: &str,
        body: Option<&serde_json::Value>,
    ) -> reqwest::Response {
        let mut request = self.client.post(self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("the service answers")
    }

    /// A POST with an `Idempotency-Key` header.
    pub async fn post_with_key(
        &self,
        path: &str,
        token: &str,
        body: Option<&serde_json::Value>,
        key: &str,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .header("idempotency-key", key);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("the service answers")
    }
}

/// The body of a successful answer as `T`, after checking that `response`
/// has the `expected` status; `what` names the request in the failure.
pub async fn answer<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
    expected: reqwest::StatusCode,
    what: &str,
) -> T {
    let status = response.status();
    let body = response.text().await.expect("a body");
    assert_eq!(status, expected, "{what}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|error| panic!("{what}: {error}: {body}"))
}

/// One page of any list (see `ates_core::page`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// `path` asking for 100 rows a page, from `cursor` if given.
pub fn page_path(path: &str, cursor: Option<&str>) -> String {
    let separator = if path.contains('?') { '&' } else { '?' };
    match cursor {
        Some(cursor) => format!("{path}{separator}per_page=100&cursor={cursor}"),
        None => format!("{path}{separator}per_page=100"),
    }
}

/// The number `sql` (a `SELECT COUNT(*) ...`) answers on `db`.
pub async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await
        .expect("the count runs")
        .expect("a row");
    row.try_get_by_index::<i64>(0).expect("a number")
}

/// What a service binary's command printed, and whether it succeeded.
#[derive(Debug)]
pub struct CommandRun {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `binary ARGS` (a service's operator command: `rebuild`,
/// `dead-letters list`) as an operator would, with only the environment
/// `settings` describes: the broker with its credentials and TLS, the
/// database and the consumer name.
pub async fn run_command(binary: &str, settings: &ServiceSettings, args: &[&str]) -> CommandRun {
    use crate::bus::identity::BusCredentials;
    let bus = &settings.bus;
    let mut command = tokio::process::Command::new(binary);
    command
        .args(args)
        .env_clear()
        .env("NATS_URL", &bus.nats_url)
        .env("DATABASE_URL", &settings.database_url)
        .env("CONSUMER_NAME", &settings.consumer_name)
        .env("RUST_LOG", "warn");
    if let Some(prefix) = &bus.subject_prefix {
        command.env("NATS_SUBJECT_PREFIX", prefix);
    }
    match &bus.credentials {
        BusCredentials::None => {}
        BusCredentials::UserPassword { user, password } => {
            command
                .env("NATS_USER", user)
                .env("NATS_PASSWORD", password.expose());
        }
        BusCredentials::Token(token) => {
            command.env("NATS_TOKEN", token.expose());
        }
        BusCredentials::NkeySeedFile(path) => {
            command.env("NATS_NKEY_SEED_FILE", path);
        }
        BusCredentials::CredsFile(path) => {
            command.env("NATS_CREDS_FILE", path);
        }
    }
    if let Some(ca) = &bus.tls.ca_file {
        command.env("NATS_TLS_CA_FILE", ca);
    }
    if let Some((certificate, key)) = &bus.tls.client_certificate {
        command
            .env("NATS_TLS_CERT_FILE", certificate)
            .env("NATS_TLS_KEY_FILE", key);
    }
    let output = command.output().await.expect("the binary runs");
    CommandRun {
        ok: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A service running in the test process on `127.0.0.1:0`, over a test
/// database, started exactly as `main` starts it. It derefs to the
/// service's typed client.
pub struct RunningService<S: TestedService> {
    pub address: String,
    pub client: reqwest::Client,
    /// The service's typed client.
    pub api: S::Client,
    http: ApiClient,
    pub database: TestDatabase,
    /// The service's own connection (to look at its tables).
    pub db: DatabaseConnection,
    pub config: S::Config,
    shutdown: tokio_util::sync::CancellationToken,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// A stopped service with its database open (see
/// [`RunningService::stop_and_open`]).
pub struct Stopped<S: TestedService> {
    pub db: DatabaseConnection,
    pub config: S::Config,
    database: TestDatabase,
}

impl<S: TestedService> Stopped<S> {
    /// Closes the database and starts the service on it again.
    pub async fn restart(self) -> RunningService<S> {
        self.db.close().await.expect("the database closes");
        RunningService::start_on(self.database, self.config).await
    }
}

impl<S: TestedService> Drop for RunningService<S> {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl<S: TestedService> std::ops::Deref for RunningService<S> {
    type Target = S::Client;

    fn deref(&self) -> &S::Client {
        &self.api
    }
}

impl<S: TestedService> RunningService<S> {
    /// Starts the service on `broker` with a fresh database, trusting the
    /// auth-api at `jwks_url`.
    pub async fn spawn(broker: &TestBroker, jwks_url: &str) -> Self {
        Self::spawn_with(broker, jwks_url, |_| {}).await
    }

    /// [`Self::spawn`] with a changed configuration.
    pub async fn spawn_with(
        broker: &TestBroker,
        jwks_url: &str,
        customize: impl FnOnce(&mut S::Config),
    ) -> Self {
        let database = TestDatabase::create().await;
        let mut config = S::test_config(service_settings(S::NAME, &database, broker, jwks_url));
        customize(&mut config);
        Self::start_on(database, config).await
    }

    /// Starts the service over `database` (a fresh one, or the one a
    /// stopped instance handed back) with `config`.
    pub async fn start_on(database: TestDatabase, config: S::Config) -> Self {
        crate::telemetry::init_for_tests();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let address = format!("http://{}", listener.local_addr().expect("bound"));
        let shutdown = tokio_util::sync::CancellationToken::new();
        let prepared = S::prepare(config.clone())
            .await
            .expect("the service starts");
        let db = prepared.db.clone();
        let server = tokio::spawn(prepared.run(listener, shutdown.clone()));
        let http = ApiClient {
            address: address.clone(),
            client: reqwest::Client::new(),
        };
        Self {
            address,
            client: http.client.clone(),
            api: S::client(http.clone()),
            http,
            database,
            db,
            config,
            shutdown,
            server: Some(server),
        }
    }

    /// Stops the service (draining it) and hands back its database and
    /// configuration, to start it again.
    pub async fn stop(mut self) -> (TestDatabase, S::Config) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("the service task")
                .expect("the service stops cleanly");
        }
        let database = std::mem::replace(&mut self.database, TestDatabase::placeholder());
        (database, self.config.clone())
    }

    /// Stops the service and opens its database, for a test to leave the
    /// state a crash would have left before [`Stopped::restart`].
    pub async fn stop_and_open(self) -> Stopped<S> {
        let (database, config) = self.stop().await;
        let db = database.connect().await;
        Stopped {
            db,
            config,
            database,
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.http.url(path)
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.http.get(path, token).await
    }

    /// A GET that must answer 200 with a JSON body of type `T`.
    pub async fn get_ok<T: serde::de::DeserializeOwned>(&self, path: &str, token: &str) -> T {
        self.http.get_ok(path, token).await
    }

    pub async fn post(
        &self,
        path: &str,
        token: &str,
        body: Option<&serde_json::Value>,
    ) -> reqwest::Response {
        self.http.post(path, token, body).await
    }

    /// A POST with an `Idempotency-Key` header.
    pub async fn post_with_key(
        &self,
        path: &str,
        token: &str,
        body: Option<&serde_json::Value>,
        key: &str,
    ) -> reqwest::Response {
        self.http.post_with_key(path, token, body, key).await
    }

    /// Waits until the service's account replica knows `account_id` (with
    /// its email) as `active` or not.
    pub async fn wait_for_account(&self, account_id: &str, active: bool) {
        self.wait_for_replica(account_id, "the account in the replica", |row| {
            row.active == active && !row.email.is_empty()
        })
        .await;
    }

    /// Waits until the service's account replica shows `account_id` with
    /// `role`.
    pub async fn wait_for_role(&self, account_id: &str, role: &str) {
        self.wait_for_replica(account_id, "the role in the replica", |row| {
            row.role == role
        })
        .await;
    }

    async fn wait_for_replica(
        &self,
        account_id: &str,
        what: &str,
        matches: impl Fn(&crate::account_replica::ReplicatedAccount) -> bool,
    ) {
        let id = Uuid::parse_str(account_id).expect("an account id");
        eventually(Duration::from_secs(20), what, || async {
            crate::account_replica::find(&self.db, id)
                .await
                .expect("the replica is readable")
                .filter(|row| matches(row))
        })
        .await;
    }
}

/// One reading of a service's `GET /metrics`, parsed: every sample by its
/// name and labels as written (`ates_logins_total{outcome="refused"}`).
#[derive(Debug, Clone)]
pub struct Scrape {
    /// The service it came from, for messages.
    pub from: String,
    pub samples: std::collections::BTreeMap<String, f64>,
}

impl Scrape {
    /// Reads `GET {address}/metrics`, which must answer 200 in Prometheus
    /// text.
    pub async fn of(client: &reqwest::Client, address: &str) -> Self {
        let response = client
            .get(format!("{address}/metrics"))
            .send()
            .await
            .expect("the service answers /metrics");
        assert_eq!(response.status(), 200, "GET {address}/metrics");
        let content_type = response.headers()["content-type"]
            .to_str()
            .expect("a text content type")
            .to_owned();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "Prometheus text, not {content_type}"
        );
        let text = response.text().await.expect("a body");
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').expect("`series value`");
                let value = value
                    .parse()
                    .unwrap_or_else(|_| panic!("a number in {line:?}"));
                (series.to_owned(), value)
            })
            .collect();
        Self {
            from: address.to_owned(),
            samples,
        }
    }

    /// The value of `series` (`name` or `name{labels}` as served), which
    /// must be served.
    pub fn value(&self, series: &str) -> f64 {
        *self.samples.get(series).unwrap_or_else(|| {
            panic!(
                "{} serves no {series}; it serves:\n{}",
                self.from,
                self.samples.keys().cloned().collect::<Vec<_>>().join("\n")
            )
        })
    }

    /// The metric names of every sample.
    pub fn names(&self) -> std::collections::BTreeSet<String> {
        self.samples
            .keys()
            .map(|series| series.split('{').next().unwrap_or(series).to_owned())
            .collect()
    }
}

/// Publishes an event straight to its stream, as its producer's relay
/// would (for consumer tests that need a given order or duplicates).
pub async fn publish_event<T: event_schemas::EventPayload>(
    bus: &EventBus,
    envelope: &event_schemas::Envelope<T>,
) {
    bus.ensure_streams().await.expect("streams");
    let subject = bus
        .naming()
        .wire_subject(&crate::bus::Naming::event_subject(
            &envelope.event_name,
            envelope.event_version,
        ));
    let payload = serde_json::to_vec(envelope).expect("an envelope serializes");
    bus.jetstream()
        .publish(subject, payload.into())
        .await
        .expect("publish")
        .await
        .expect("ack");
}

/// Asserts that a committed generated document (`openapi/<file>` at the
/// workspace root) equals what the code generates now: the drift test of
/// every generated document (`make openapi` regenerates them).
pub fn assert_committed_document(file: &str, generated: &impl serde::Serialize) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("openapi")
        .join(file);
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("openapi/{file} is missing: run `make openapi`")),
    )
    .unwrap_or_else(|error| panic!("openapi/{file} is not JSON: {error}"));
    let generated = serde_json::to_value(generated).expect("the document serializes");
    assert!(
        committed == generated,
        "openapi/{file} is stale: run `make openapi` and commit it"
    );
}

/// Asserts a problem-details response (RFC 9457) with `status` and returns
/// its body.
pub async fn problem(
    response: reqwest::Response,
    status: reqwest::StatusCode,
) -> serde_json::Value {
    assert_eq!(response.status(), status, "status of {}", response.url());
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "errors are problem details"
    );
    let body: serde_json::Value = response.json().await.expect("a JSON problem");
    assert_eq!(body["status"], status.as_u16());
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|kind| kind.starts_with("https://"))
    );
    assert!(body["title"].is_string() && body["detail"].is_string());
    body
}

/// Writes `value` into `column` of the row `id` of `table`, behind the
/// service's back: a value no version of the code writes (an unknown role,
/// status or kind), for the tests that reading it is an error, not a guess.
pub async fn store_unknown_value(
    db: &DatabaseConnection,
    table: &str,
    column: &str,
    id: Uuid,
    value: &str,
) {
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
    let update = Query::update()
        .table(Alias::new(table))
        .value(Alias::new(column), value)
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .to_owned();
    let done = db.execute(&update).await.expect("the row is updated");
    assert_eq!(done.rows_affected(), 1, "{table} has the row {id}");
}

/// The `percent`th percentile of `samples` (nearest rank; zero for no
/// samples): what the benchmarks report as p50 and p99.
pub fn percentile(samples: &mut [Duration], percent: usize) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    let last = samples.len() - 1;
    samples[(last * percent.min(100) + 50) / 100]
}

/// Whether a response is a stored answer given again
/// (`Idempotency-Replayed: true`).
pub fn replayed(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(crate::idempotency::REPLAYED)
        .is_some_and(|value| value == "true")
}

/// One part of a JWT (0 header, 1 claims), decoded but not verified.
pub fn jwt_part(token: &str, index: usize) -> serde_json::Value {
    use base64::Engine as _;
    let part = token.split('.').nth(index).expect("a JWT part");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

/// Asserts the shared answers of a JSON-taking `POST url` (with `token` if
/// it needs one): 400 for a body that is not well-formed JSON (truncated
/// `[1,2` included), 422 for well-formed JSON of the wrong shape (a wrong
/// type, an unknown field, sent as `application/json; charset=utf-8`),
/// 413 over the 16 KiB body limit of the test settings, 415 for a missing
/// or non-JSON content type. Each one a problem.
pub async fn assert_json_body_statuses(client: &reqwest::Client, url: &str, token: Option<&str>) {
    use reqwest::StatusCode;

    let send = |content_type: Option<&'static str>, body: String| {
        let mut request = client.post(url).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.expect("the service answers") }
    };
    let json = Some("application/json");
    for not_json in ["[1,2", "{\"title\": ", "", "{} {}"] {
        let body = problem(send(json, not_json.into()).await, StatusCode::BAD_REQUEST).await;
        assert!(
            body["type"]
                .as_str()
                .is_some_and(|kind| kind.ends_with("/bad-request")),
            "{not_json:?}: {body}"
        );
    }
    for wrong_shape in ["[1,2]", "42", "{\"no_such_field\": 1}"] {
        let body = problem(
            send(Some("application/json; charset=utf-8"), wrong_shape.into()).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert!(
            body["type"]
                .as_str()
                .is_some_and(|kind| kind.ends_with("/validation")),
            "{wrong_shape:?}: {body}"
        );
    }
    let oversized = format!("{{\"pad\": \"{}\"}}", "p".repeat(32 * 1024));
    problem(send(json, oversized).await, StatusCode::PAYLOAD_TOO_LARGE).await;
    for content_type in [None, Some("text/plain"), Some("application/xml")] {
        problem(
            send(content_type, "{}".into()).await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        )
        .await;
    }
}

/// Asserts that the date query parameter `parameter` of `GET url` (a URL
/// with `{}` where the date goes) takes the first and last accepted days
/// (200) and refuses every other day with a 422 naming `parameter`: the
/// years -262143 and +262142 that chrono parses, year 0, the days just
/// outside the range, a day that does not exist, other shapes.
pub async fn assert_dates_bounded(
    client: &reqwest::Client,
    url: &str,
    parameter: &str,
    token: &str,
) {
    use reqwest::StatusCode;

    let get = |date: &str| {
        let url = url.replace("{}", date);
        async move {
            client
                .get(&url)
                .bearer_auth(token)
                .send()
                .await
                .expect("the service answers")
        }
    };
    for date in ["1970-01-01", "9998-12-31"] {
        let response = get(date).await;
        assert_eq!(response.status(), StatusCode::OK, "{date} at {url}");
    }
    for date in [
        "-262143-01-01",
        "%2B262142-12-31",
        "0000-01-01",
        "1969-12-31",
        "9999-01-01",
        "2026-02-30",
        "2026-3-4",
        "03.03.2026",
        "2026-03-04T00:00:00Z",
        "%00",
    ] {
        let body = problem(get(date).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(
            body["errors"][0]["field"], parameter,
            "{date} at {url}: {body}"
        );
    }
}

/// Asserts that `GET url` with `token` is a 200 whatever the case of the
/// bearer scheme (RFC 7235) and a 401 under any other scheme, and that the answer carries the headers every
/// response of an account's data gets: `Cache-Control: no-store`,
/// `Pragma: no-cache`, `X-Content-Type-Options: nosniff`.
pub async fn assert_bearer_any_case_and_no_store(client: &reqwest::Client, url: &str, token: &str) {
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let response = client
            .get(url)
            .header("authorization", format!("{scheme} {token}"))
            .send()
            .await
            .expect("the service answers");
        assert_eq!(response.status(), reqwest::StatusCode::OK, "{scheme} {url}");
        assert_private_headers(&response);
    }
    // The same valid token under another scheme, or no token after the
    // scheme, is no bearer token.
    for value in [
        format!("Basic {token}"),
        format!("Token {token}"),
        "Bearer  ".into(),
    ] {
        let response = client
            .get(url)
            .header("authorization", &value)
            .send()
            .await
            .expect("the service answers");
        assert_eq!(
            response.status(),
            reqwest::StatusCode::UNAUTHORIZED,
            "{value:.12} {url}"
        );
    }
}

/// Asserts `Cache-Control: no-store`, `Pragma: no-cache` and
/// `X-Content-Type-Options: nosniff` on `response`.
pub fn assert_private_headers(response: &reqwest::Response) {
    let headers = response.headers();
    assert_eq!(headers["cache-control"], "no-store", "{}", response.url());
    assert_eq!(headers["pragma"], "no-cache", "{}", response.url());
    assert_eq!(
        headers["x-content-type-options"],
        "nosniff",
        "{}",
        response.url()
    );
}

/// Asserts that the service's unknown-path 404 and its Swagger UI say
/// `X-Content-Type-Options: nosniff`.
pub async fn assert_nosniff_everywhere(client: &reqwest::Client, base: &str) {
    for path in [
        "/no/such/endpoint",
        "/swagger-ui/",
        "/openapi.json",
        "/healthz",
    ] {
        let response = client
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("the service answers");
        assert_eq!(
            response.headers()["x-content-type-options"],
            "nosniff",
            "{path}"
        );
    }
}

/// Asserts (on unix) that a SQLite `url`'s file, and its `-wal` and `-shm`
/// files if there, are owner-only (0600) and its directory is 0700.
#[cfg(unix)]
pub fn assert_sqlite_owner_only(url: &str) {
    use std::os::unix::fs::PermissionsExt as _;

    let path = url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap_or_default();
    let mode = |path: &str| {
        std::fs::metadata(path)
            .unwrap_or_else(|error| panic!("{path}: {error}"))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(path), 0o600, "{path}");
    for companion in ["-wal", "-shm"] {
        let companion = format!("{path}{companion}");
        if std::path::Path::new(&companion).exists() {
            assert_eq!(mode(&companion), 0o600, "{companion}");
        }
    }
    let directory = std::path::Path::new(path)
        .parent()
        .expect("a directory")
        .to_string_lossy()
        .into_owned();
    assert_eq!(mode(&directory), 0o700, "{directory}");
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_is_replaced_in_postgres_urls() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t2"),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "t3"),
            "postgres://h:5432/t3"
        );
    }
}

/// What an instance that died while it ran an idempotent `POST` leaves
/// behind: the key reserved without an answer, its heartbeat silent for
/// `silent_for`, and, when `committed`, the mark that the command committed
/// (which, in a real crash, comes with the command's effect).
#[derive(Debug, Clone)]
pub struct Interrupted<'a> {
    /// The caller the key belongs to (the token's account).
    pub account_id: &'a str,
    pub key: &'a str,
    pub path: &'a str,
    /// The JSON body, hashed as `reqwest`'s `json` sends it.
    pub body: &'a serde_json::Value,
    pub committed: bool,
    pub silent_for: Duration,
}

/// Stores `interrupted`'s reservation in a service's database, as the dead
/// instance would have, for a test of what the retry gets.
pub async fn plant_interrupted(db: &DatabaseConnection, interrupted: Interrupted<'_>) {
    use crate::idempotency::IdempotencyKey;
    use crate::idempotency::store::entity;
    use sea_orm::{ActiveModelTrait as _, IntoActiveModel as _};

    let mut headers = axum::http::HeaderMap::new();
    headers.insert(
        crate::idempotency::key::HEADER,
        interrupted.key.parse().expect("a header value"),
    );
    let key = IdempotencyKey::from_headers(&headers)
        .expect("a well-formed key")
        .expect("the key");
    let scope = format!("account:{}", interrupted.account_id);
    let body = serde_json::to_vec(interrupted.body).expect("JSON");
    let now = db::now();
    let silent_since =
        now - chrono::Duration::from_std(interrupted.silent_for).expect("a duration");
    entity::Model {
        key_hash: key.hash(),
        request_hash: key
            .secret(&scope)
            .request_hash("POST", interrupted.path, &body),
        scope,
        reservation_id: Uuid::new_v4(),
        method: "POST".into(),
        path: interrupted.path.into(),
        status: None,
        response: None,
        created_at: silent_since,
        expires_at: now + chrono::Duration::hours(24),
        committed_at: interrupted.committed.then_some(silent_since),
        alive_at: Some(silent_since),
    }
    .into_active_model()
    .insert(db)
    .await
    .expect("the reservation is stored");
}

/// Publishes `data` as an event of auth-api at `at`, behind its back (a
/// late, copied or forged account event).
pub async fn publish_account_event<T: event_schemas::EventPayload>(
    bus: &EventBus,
    at: chrono::DateTime<chrono::Utc>,
    data: T,
) {
    publish_event(bus, &event_schemas::Envelope::at("auth-api", at, data)).await;
}

/// The last second of year 9999: a date no real event has.
pub fn far_future() -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono::Utc
        .with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
        .single()
        .expect("a valid date")
}

/// Publishes one account's history out of order (the newest change first,
/// then the older ones, each twice: a copy with a new event id and a
/// redelivery of the same one) and a pre-revision event that claims a
/// later date, then a sentinel account; once `service` holds the sentinel,
/// its replica must hold the account's newest state: no late event
/// overwrote it. Every service with an account replica runs it.
pub async fn assert_late_account_events_never_win<S: TestedService>(
    bus: &EventBus,
    service: &RunningService<S>,
) {
    use event_schemas::Envelope;
    use event_schemas::accounts::{
        AccountCreatedV2, AccountDeactivatedV2, AccountRoleChangedV2, AccountUpdatedV1,
        AccountUpdatedV2, Role,
    };
    let now = chrono::Utc::now();
    let id = uuid::Uuid::now_v7();
    let created = AccountCreatedV2 {
        account_id: id,
        email: "kesha@popug.inc".into(),
        full_name: "Kesha".into(),
        role: Role::Worker,
        active: true,
        created_at: now,
        revision: 1,
    };
    let updated = Envelope::at(
        "auth-api",
        now,
        AccountUpdatedV2 {
            account_id: id,
            email: "kesha@popug.inc".into(),
            full_name: "Kesha Popugaev".into(),
            role: Role::Manager,
            active: true,
            updated_at: now,
            revision: 2,
        },
    );
    // The newest change first, then the older ones, each twice (a copy
    // with a new event id, and a redelivery of the same one), and a
    // pre-revision event that claims a later time.
    publish_account_event(
        bus,
        now,
        AccountDeactivatedV2 {
            account_id: id,
            deactivated_at: now,
            revision: 3,
        },
    )
    .await;
    publish_account_event(bus, now, created.clone()).await;
    publish_event(bus, &updated).await;
    publish_account_event(
        bus,
        now,
        AccountRoleChangedV2 {
            account_id: id,
            previous_role: Role::Worker,
            role: Role::Manager,
            changed_at: now,
            revision: 2,
        },
    )
    .await;
    publish_account_event(bus, now, created).await;
    publish_event(bus, &updated).await;
    publish_account_event(
        bus,
        far_future(),
        AccountUpdatedV1 {
            account_id: id,
            email: "kesha@popug.inc".into(),
            full_name: "An old event".into(),
            role: Role::Admin,
            active: true,
            updated_at: far_future(),
        },
    )
    .await;
    // A sentinel after all of them: once it is in, they all were applied.
    let sentinel = uuid::Uuid::now_v7();
    publish_account_event(
        bus,
        now,
        AccountCreatedV2 {
            account_id: sentinel,
            email: "sentinel@popug.inc".into(),
            full_name: "Sentinel".into(),
            role: Role::Worker,
            active: true,
            created_at: now,
            revision: 1,
        },
    )
    .await;
    service.wait_for_account(&sentinel.to_string(), true).await;
    let row = crate::account_replica::find(&service.db, id)
        .await
        .expect("the replica is read")
        .expect("the account is in the replica");
    assert_eq!(
        (
            row.email.as_str(),
            row.full_name.as_str(),
            row.role.as_str(),
            row.active,
            row.active_revision
        ),
        (
            "kesha@popug.inc",
            "Kesha Popugaev",
            "manager",
            false,
            Some(3)
        )
    );
}
