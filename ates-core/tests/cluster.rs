//! `make test-cluster`: aTES scaled out, under load, losing nodes.
//!
//! Three `nats-server` processes form one JetStream cluster (routes on
//! loopback, a store each, the broker permission set of
//! `ates_core::bus::permissions`); the services create their streams with
//! three replicas and connect with the whole seed list. Two instances of
//! each service (the debug binaries `cargo build --bins` makes) run on
//! PostgreSQL, one database per service, behind one nginx per service that
//! passes idempotent requests that fail to the other instance and answers
//! 503 with `Retry-After` when no instance could take a request.
//!
//! Clients sign up, create tasks, complete them and shuffle for a bounded
//! time, retrying with their `Idempotency-Key` as a real client would.
//! Meanwhile the node that leads the TASKS stream is killed (`kill -9`) and
//! later restarted, and so is one instance of each service. Then the day
//! is closed, and the suite reconciles the databases with the streams:
//! tasks, fees (one per assignment), rewards (one per completion),
//! balances against ledger sums, analytics against accounting, payouts
//! against emails; lost and doubled must be 0. It prints the
//! reconciliation and how long the failover stalled writes and events.
//!
//! Needs PostgreSQL (`TEST_DATABASE_URL`), `nats-server` and `nginx`:
//! `make test-cluster` provides them. `cargo test` leaves it out (`test =
//! false` in Cargo.toml) until it is green every time: see the README.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ates_core::bus::permissions::{self, Generated};
use ates_core::bus::{BusConfig, BusCredentials, EventBus, Naming};
use ates_core::testing::{
    NatsServer, TestDatabase, count, eventually, free_port, published_messages, stored_messages,
};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use uuid::Uuid;

const SERVICES: [&str; 4] = ["auth-api", "tasks-api", "accounting-api", "analytics-api"];
const ADMIN_EMAIL: &str = "admin@popug.inc";
const ADMIN_PASSWORD: &str = "cluster-admin-password";
const WORKERS: usize = 6;
/// How long the clients work.
const LOAD: Duration = Duration::from_secs(45);
/// When, from the start of the load, each fault begins and ends.
const KILL_LEADER_AT: Duration = Duration::from_secs(8);
const RESTART_NODE_AT: Duration = Duration::from_secs(20);
const KILL_INSTANCES_AT: Duration = Duration::from_secs(14);
const RESTART_INSTANCES_AT: Duration = Duration::from_secs(28);
/// How long a client retries a key that stays reserved before it counts
/// the request as unresolved (far longer than any request runs).
const HELD_KEY_LIMIT: Duration = Duration::from_secs(20);
/// How long the close of the day may run before its retries give up.
const CLOSE_LIMIT: Duration = Duration::from_secs(150);
/// The longest wait for the system to settle after the load.
const SETTLE: Duration = Duration::from_secs(120);

/// How long an instance may take to answer `/readyz` with 200.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// The three-node JetStream cluster.
struct Cluster {
    nodes: Vec<NatsServer>,
    names: Vec<String>,
    identities: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> Self {
        let identities = tempfile::tempdir().unwrap();
        let Generated { server_config, .. } =
            permissions::generate(identities.path(), &Naming::new(None), &[], None).unwrap();
        let routes: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let names: Vec<String> = (0..3).map(|index| format!("node-{index}")).collect();
        let mut nodes = Vec::new();
        for (index, route) in routes.iter().enumerate() {
            let others: Vec<String> = routes
                .iter()
                .filter(|other| *other != route)
                .map(|other| format!("nats://127.0.0.1:{other}"))
                .collect();
            let mut node = NatsServer::reserve();
            node.set_args(&[
                "-c",
                &server_config.display().to_string(),
                "-n",
                &names[index],
                "--cluster_name",
                "ates",
                "--cluster",
                &format!("nats://127.0.0.1:{route}"),
                "--routes",
                &others.join(","),
            ]);
            nodes.push(node);
        }
        for node in &mut nodes {
            node.resume().await;
        }
        Self {
            nodes,
            names,
            identities,
        }
    }

    /// Every node, as a service's `NATS_URL`.
    fn seeds(&self) -> String {
        self.nodes
            .iter()
            .map(NatsServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    fn seed_file(&self, identity: &str) -> PathBuf {
        permissions::seed_file(self.identities.path(), identity)
    }

    /// A connection as the unrestricted operator (to read streams).
    async fn operator(&self) -> EventBus {
        EventBus::connect(&BusConfig {
            nats_url: self.seeds(),
            service: "cluster-test".into(),
            credentials: BusCredentials::NkeySeedFile(self.seed_file(permissions::OPERATOR)),
            ..BusConfig::default()
        })
        .await
        .unwrap()
    }

    /// The node that leads `domain`'s stream.
    async fn leader_of(&self, bus: &EventBus, domain: &str) -> usize {
        let name = bus.naming().domain_stream(domain);
        let leader = eventually(
            Duration::from_secs(30),
            "a leader of the stream",
            || async {
                let mut stream = bus.jetstream().get_stream(&name).await.ok()?;
                let info = stream.info().await.ok()?;
                info.cluster.as_ref()?.leader.clone()
            },
        )
        .await;
        self.names
            .iter()
            .position(|name| *name == leader)
            .expect("a node of the cluster")
    }
}

/// One running instance of a service.
struct Instance {
    port: u16,
    child: Option<Child>,
}

/// Every instance, their databases, and nginx in front of each service.
struct System {
    instances: HashMap<&'static str, Vec<Instance>>,
    databases: HashMap<&'static str, TestDatabase>,
    balancers: HashMap<&'static str, u16>,
    nginx: Child,
    binaries: PathBuf,
    logs: tempfile::TempDir,
    seeds: String,
    seed_files: HashMap<&'static str, PathBuf>,
}

impl System {
    async fn start(cluster: &Cluster) -> Self {
        let binaries = std::env::current_exe()
            .unwrap()
            .parent()
            .and_then(Path::parent)
            .unwrap()
            .to_path_buf();
        let logs = tempfile::tempdir().unwrap();
        let mut databases = HashMap::new();
        let mut instances = HashMap::new();
        let mut balancers = HashMap::new();
        let mut seed_files = HashMap::new();
        for service in SERVICES {
            databases.insert(service, TestDatabase::create().await);
            instances.insert(
                service,
                (0..2)
                    .map(|_| Instance {
                        port: free_port(),
                        child: None,
                    })
                    .collect(),
            );
            balancers.insert(service, free_port());
            seed_files.insert(service, cluster.seed_file(service));
        }
        let nginx = start_nginx(logs.path(), &instances, &balancers).await;
        let mut system = Self {
            instances,
            databases,
            balancers,
            nginx,
            binaries,
            logs,
            seeds: cluster.seeds(),
            seed_files,
        };
        // auth-api first: it creates the ACCOUNTS stream and the admin.
        for service in SERVICES {
            for index in 0..2 {
                system.spawn(service, index);
            }
            system.wait_until_ready(service).await;
        }
        system
    }

    fn url(&self, service: &str, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.balancers[service])
    }

    fn spawn(&mut self, service: &'static str, index: usize) {
        let binary = self.binaries.join(service);
        assert!(
            binary.exists(),
            "{} is missing: run `make test-cluster` (it builds the binaries)",
            binary.display()
        );
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.logs.path().join(format!("{service}-{index}.log")))
            .unwrap();
        let port = self.instances[service][index].port;
        let child = Command::new(&binary)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", self.databases[service].url())
            .env("NATS_URL", &self.seeds)
            .env("NATS_NKEY_SEED_FILE", &self.seed_files[service])
            .env("NATS_STREAM_REPLICAS", "3")
            .env(
                "AUTH_JWKS_URL",
                self.url("auth-api", "/.well-known/jwks.json"),
            )
            .env("ATES_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("ATES_ADMIN_PASSWORD", ADMIN_PASSWORD)
            // Every client comes through nginx, from one address.
            .env("CLIENT_MAX_ATTEMPTS", "1000000")
            .env("CLOSE_SCHEDULER", "off")
            .env("MAIL_PER_SECOND", "0")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        self.instances.get_mut(service).unwrap()[index].child = Some(child);
    }

    /// The warnings and errors every instance of `service` logged.
    fn logs_of(&self, service: &str) -> String {
        (0..2)
            .map(|index| {
                let file = self.logs.path().join(format!("{service}-{index}.log"));
                let text = std::fs::read_to_string(file).unwrap_or_default();
                format!("--- {service}-{index}\n{text}")
            })
            .collect()
    }

    async fn kill(&mut self, service: &'static str, index: usize) {
        if let Some(mut child) = self.instances.get_mut(service).unwrap()[index].child.take() {
            child.kill().await.unwrap();
        }
    }

    async fn wait_until_ready(&self, service: &str) {
        let client = reqwest::Client::new();
        for instance in &self.instances[service] {
            let url = format!("http://127.0.0.1:{}/readyz", instance.port);
            // Not `eventually`: a failure shows the last answer and the
            // instances' logs (their directory is gone once the test ends).
            let deadline = tokio::time::Instant::now() + READY_WITHIN;
            loop {
                let last = match client.get(&url).send().await {
                    Ok(response) if response.status().is_success() => break,
                    Ok(response) => format!(
                        "{} {}",
                        response.status(),
                        response.text().await.unwrap_or_default()
                    ),
                    Err(error) => error.to_string(),
                };
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{service} on {} not ready after {READY_WITHIN:?}; its last /readyz: {last}\n{}",
                    instance.port,
                    self.logs_of(service)
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    async fn db(&self, service: &str) -> DatabaseConnection {
        self.databases[service].connect().await
    }
}

impl Drop for System {
    fn drop(&mut self) {
        let _ = self.nginx.start_kill();
        if std::env::var_os("CLUSTER_KEEP").is_some() {
            let logs = std::mem::replace(&mut self.logs, tempfile::tempdir().unwrap()).keep();
            eprintln!("logs kept in {}", logs.display());
        }
    }
}

/// nginx with one upstream per service: an idempotent request (GET, and
/// what nginx counts as such) that meets a dead instance goes to the other;
/// when no instance answers, 503 with `Retry-After: 1`.
///
/// One process (`master_process off`): killing the child stops nginx whole;
/// with a master, killing it left its worker listening after the suite.
async fn start_nginx(
    dir: &Path,
    instances: &HashMap<&'static str, Vec<Instance>>,
    balancers: &HashMap<&'static str, u16>,
) -> Child {
    let mut servers = String::new();
    for service in SERVICES {
        let upstreams: String = instances[service]
            .iter()
            .map(|instance| {
                format!(
                    "    server 127.0.0.1:{} max_fails=1 fail_timeout=2s;\n",
                    instance.port
                )
            })
            .collect();
        servers.push_str(&format!(
            "  upstream {service} {{\n{upstreams}  }}\n  server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://{service};\n      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      proxy_set_header Host $host;\n      proxy_next_upstream error timeout http_502 http_503;\n      proxy_next_upstream_tries 2;\n      proxy_connect_timeout 1s;\n      proxy_read_timeout 60s;\n      proxy_intercept_errors off;\n      error_page 502 504 = @unavailable;\n    }}\n    location @unavailable {{\n      add_header Retry-After 1 always;\n      default_type application/problem+json;\n      return 503 '{{\"title\":\"no instance could take the request; retry\",\"status\":503}}';\n    }}\n  }}\n",
            port = balancers[service],
        ));
    }
    let config = format!(
        "master_process off;\npid {dir}/nginx.pid;\nerror_log {dir}/nginx-error.log warn;\nevents {{ worker_connections 4096; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {dir}/body;\n  proxy_temp_path {dir}/proxy;\n  fastcgi_temp_path {dir}/fastcgi;\n  uwsgi_temp_path {dir}/uwsgi;\n  scgi_temp_path {dir}/scgi;\n{servers}}}\n",
        dir = dir.display()
    );
    let file = dir.join("nginx.conf");
    std::fs::write(&file, config).unwrap();
    let child = Command::new(nginx_binary())
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&file)
        .args(["-g", "daemon off; user root;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("nginx starts (apt-get install nginx; make test-cluster does)");
    let port = balancers["auth-api"];
    eventually(Duration::from_secs(10), "nginx to listen", || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
    })
    .await;
    child
}

fn nginx_binary() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .expect("nginx is missing: run `make deps` (apt-get install nginx)")
}

/// What the clients saw.
#[derive(Default)]
struct Seen {
    /// Tasks created (their ids), each answered 201 once per key.
    created: HashSet<Uuid>,
    completed: HashSet<Uuid>,
    /// Answers that were not the expected one, by status, before a retry.
    failures: BTreeMap<String, usize>,
    /// When each create succeeded, from the start of the load.
    writes: Vec<Duration>,
    /// A 500, or a 503 without `Retry-After`: never allowed.
    unclear: Vec<String>,
    /// Requests whose retries kept meeting the reservation of a first
    /// attempt that an instance's death interrupted: their effect is
    /// unknown to the client. Must be none.
    unresolved: Vec<String>,
}

/// A client that sends one request until it gets an answer it expects,
/// with the same `Idempotency-Key` each time, as a real client would.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    seen: Arc<Mutex<Seen>>,
    /// How long a key may stay reserved by a running attempt
    /// ([`HELD_KEY_LIMIT`]; longer for the close of the day).
    held_limit: Duration,
}

impl Client {
    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        token: &str,
        body: Option<&Value>,
        expected: &[StatusCode],
    ) -> (StatusCode, Value) {
        let key = Uuid::new_v4().to_string();
        let started = Instant::now();
        let mut held_since: Option<Instant> = None;
        loop {
            let mut request = self
                .http
                .request(method.clone(), url)
                .header("Idempotency-Key", &key)
                .timeout(Duration::from_secs(30));
            if !token.is_empty() {
                request = request.bearer_auth(token);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let failure = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let retry_after = response.headers().contains_key("retry-after");
                    let answer: Value = response.json().await.unwrap_or(Value::Null);
                    if expected.contains(&status) {
                        return (status, answer);
                    }
                    // The key is reserved by an attempt still running (or
                    // whose instance died, until its heartbeat has been
                    // silent long enough for this retry to take it over);
                    // an attempt that committed and died before storing
                    // its answer leaves the client nothing to retry.
                    if status == StatusCode::CONFLICT
                        && answer["detail"]
                            .as_str()
                            .is_some_and(|detail| detail.contains("look the result up"))
                    {
                        self.seen.lock().unwrap().unresolved.push(format!(
                            "{method} {url}: {}",
                            answer["detail"].as_str().unwrap_or_default()
                        ));
                        return (status, answer);
                    }
                    if status == StatusCode::CONFLICT
                        && answer["detail"]
                            .as_str()
                            .is_some_and(|detail| detail.contains("Idempotency-Key"))
                    {
                        let since = *held_since.get_or_insert_with(Instant::now);
                        if since.elapsed() > self.held_limit {
                            self.seen.lock().unwrap().unresolved.push(format!(
                                "{method} {url}: {}",
                                answer["detail"].as_str().unwrap_or_default()
                            ));
                            return (status, answer);
                        }
                    }
                    if status.is_server_error()
                        && !(status == StatusCode::SERVICE_UNAVAILABLE && retry_after)
                    {
                        self.seen
                            .lock()
                            .unwrap()
                            .unclear
                            .push(format!("{method} {url}: {status} {answer}"));
                    }
                    if !status.is_server_error() && status != StatusCode::CONFLICT {
                        panic!("{method} {url}: {status} {answer}");
                    }
                    format!("{status} {}", answer["detail"].as_str().unwrap_or_default())
                }
                Err(error) => format!(
                    "no answer ({})",
                    if error.is_timeout() {
                        "timeout"
                    } else {
                        "connection"
                    }
                ),
            };
            *self
                .seen
                .lock()
                .unwrap()
                .failures
                .entry(failure.clone())
                .or_default() += 1;
            assert!(
                started.elapsed() < self.held_limit + Duration::from_secs(70),
                "{method} {url} never succeeded; the last answer: {failure}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A POST that must succeed (or end unresolved, see [`Seen`]).
    async fn post(&self, url: &str, token: &str, body: &Value) -> Option<Value> {
        let expected = [StatusCode::OK, StatusCode::CREATED];
        let (status, answer) = self
            .send(reqwest::Method::POST, url, token, Some(body), &expected)
            .await;
        expected.contains(&status).then_some(answer)
    }
}

/// Where the clients send requests: nginx's port for each service.
#[derive(Clone)]
struct Balancers(Arc<HashMap<&'static str, u16>>);

impl Balancers {
    fn url(&self, service: &str, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.0[service])
    }
}

async fn login(at: &Balancers, client: &Client, email: &str, password: &str) -> String {
    let answer = client
        .send(
            reqwest::Method::POST,
            &at.url("auth-api", "/v1/auth/login"),
            "",
            Some(&json!({"email": email, "password": password})),
            &[StatusCode::OK],
        )
        .await
        .1;
    answer["access_token"].as_str().unwrap().to_owned()
}

/// A worker's day until the load ends: create a task, then complete one
/// of its own open tasks.
async fn worker_day(at: Balancers, client: Client, token: String, started: Instant) {
    let create = at.url("tasks-api", "/v1/tasks");
    let mine = at.url("tasks-api", "/v1/tasks/mine?status=open&per_page=5");
    let mut round = 0u64;
    while started.elapsed() < LOAD {
        round += 1;
        let body = json!({"title": format!("Task {round}"), "description": "cluster"});
        let Some(task) = client.post(&create, &token, &body).await else {
            continue;
        };
        let id: Uuid = task["id"].as_str().unwrap().parse().unwrap();
        {
            let mut seen = client.seen.lock().unwrap();
            seen.created.insert(id);
            seen.writes.push(started.elapsed());
        }
        let open = client
            .send(reqwest::Method::GET, &mine, &token, None, &[StatusCode::OK])
            .await
            .1;
        if let Some(task) = open["items"].as_array().and_then(|items| items.first()) {
            let id: Uuid = task["id"].as_str().unwrap().parse().unwrap();
            let url = at.url("tasks-api", &format!("/v1/tasks/{id}/complete"));
            // 403: a shuffle gave it to someone else meanwhile; 409: done
            // (by an attempt whose answer was lost, when no answer was
            // stored for its key).
            let (status, _) = client
                .send(
                    reqwest::Method::POST,
                    &url,
                    &token,
                    None,
                    &[StatusCode::OK, StatusCode::FORBIDDEN, StatusCode::CONFLICT],
                )
                .await;
            if status == StatusCode::OK {
                client.seen.lock().unwrap().completed.insert(id);
            }
        }
    }
}

/// The admin's shuffles, one every few seconds of the load.
async fn shuffles(at: Balancers, client: Client, admin: String, started: Instant) -> usize {
    let url = at.url("tasks-api", "/v1/tasks/shuffle");
    let mut done = 0;
    while started.elapsed() + Duration::from_secs(5) < LOAD {
        tokio::time::sleep(Duration::from_secs(5)).await;
        client
            .send(reqwest::Method::POST, &url, &admin, None, &[StatusCode::OK])
            .await;
        done += 1;
    }
    done
}

/// How many of `tasks` are done in tasks-api.
async fn count_done(db: &DatabaseConnection, tasks: &HashSet<Uuid>) -> i64 {
    if tasks.is_empty() {
        return 0;
    }
    let ids: Vec<String> = tasks.iter().map(|id| format!("'{id}'")).collect();
    count(
        db,
        &format!(
            "SELECT COUNT(*) FROM tasks WHERE status = 'done' AND id IN ({})",
            ids.join(",")
        ),
    )
    .await
}

/// `sql`'s rows of (text, number), e.g. each account's balance.
async fn pairs(db: &DatabaseConnection, sql: &str) -> BTreeMap<String, i64> {
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .into_iter()
        .map(|row| {
            (
                row.try_get_by_index::<String>(0).unwrap(),
                row.try_get_by_index::<i64>(1).unwrap(),
            )
        })
        .collect()
}

/// The longest pause between successive `moments` within `window`.
fn longest_gap(moments: &mut [Duration], window: (Duration, Duration)) -> Duration {
    moments.sort();
    moments
        .windows(2)
        .filter(|pair| pair[1] >= window.0 && pair[0] <= window.1)
        .map(|pair| pair[1] - pair[0])
        .max()
        .unwrap_or_default()
}

/// When JetStream stored each message of `domain`'s stream, in
/// nanoseconds since the epoch, oldest first.
async fn publish_times(bus: &EventBus, domain: &str) -> Vec<i128> {
    stored_messages(bus, domain)
        .await
        .iter()
        .map(|message| message.info().unwrap().published.unix_timestamp_nanos())
        .collect()
}

/// Now, in nanoseconds since the epoch.
fn now_nanos() -> i128 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i128::try_from(since.as_nanos()).unwrap()
}

/// One line of the reconciliation: what it counts, the two sides, lost
/// and doubled.
struct Line {
    what: String,
    expected: i64,
    found: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_loses_a_node_and_an_instance_of_each_service_and_nothing_is_lost_or_doubled() {
    let database = std::env::var("TEST_DATABASE_URL").unwrap_or_default();
    assert!(
        database.starts_with("postgres"),
        "the cluster suite runs on PostgreSQL: run `make test-cluster`"
    );
    ates_core::telemetry::init_for_tests();
    let suite = Instant::now();
    let mut cluster = Cluster::start().await;
    let mut system = System::start(&cluster).await;
    let bus = cluster.operator().await;
    let at = Balancers(Arc::new(system.balancers.clone()));
    let client = Client {
        http: reqwest::Client::new(),
        seen: Arc::new(Mutex::new(Seen::default())),
        held_limit: HELD_KEY_LIMIT,
    };
    let admin = login(&at, &client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let mut tokens = Vec::new();
    for index in 0..WORKERS {
        let email = format!("worker{index}@popug.inc");
        let body = json!({"email": email, "password": "cluster-password", "full_name": format!("Worker {index}")});
        client
            .post(&at.url("auth-api", "/v1/accounts"), "", &body)
            .await;
        tokens.push(login(&at, &client, &email, "cluster-password").await);
    }
    // Once tasks-api knows the workers, a task can be created.
    let first = json!({"title": "The first task", "description": "warm-up"});
    let task = client
        .post(&at.url("tasks-api", "/v1/tasks"), &admin, &first)
        .await
        .expect("the first task");
    client
        .seen
        .lock()
        .unwrap()
        .created
        .insert(task["id"].as_str().unwrap().parse().unwrap());
    eprintln!(
        "cluster: 3 NATS nodes and 2 instances of each service up in {:.1} s",
        suite.elapsed().as_secs_f64()
    );

    // The load, and the faults during it.
    let started = Instant::now();
    let mut days = Vec::new();
    for token in &tokens {
        days.push(tokio::spawn(worker_day(
            at.clone(),
            client.clone(),
            token.clone(),
            started,
        )));
    }
    let shuffler = tokio::spawn(shuffles(at.clone(), client.clone(), admin.clone(), started));
    tokio::time::sleep(KILL_LEADER_AT).await;
    let leader = cluster.leader_of(&bus, "tasks").await;
    cluster.nodes[leader].stop().await;
    let leader_killed = started.elapsed();
    let leader_killed_at = now_nanos();
    eprintln!(
        "cluster: killed {} (the TASKS leader) at {:.1} s",
        cluster.names[leader],
        leader_killed.as_secs_f64()
    );
    tokio::time::sleep(KILL_INSTANCES_AT.saturating_sub(started.elapsed())).await;
    for service in SERVICES {
        system.kill(service, 0).await;
    }
    eprintln!(
        "cluster: killed one instance of each service at {:.1} s",
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(RESTART_NODE_AT.saturating_sub(started.elapsed())).await;
    cluster.nodes[leader].resume().await;
    eprintln!(
        "cluster: restarted {} at {:.1} s",
        cluster.names[leader],
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(RESTART_INSTANCES_AT.saturating_sub(started.elapsed())).await;
    for service in SERVICES {
        system.spawn(service, 0);
    }
    for service in SERVICES {
        system.wait_until_ready(service).await;
    }
    eprintln!(
        "cluster: restarted the instances at {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for day in days {
        day.await.unwrap();
    }
    let shuffled = shuffler.await.unwrap();

    // The close of the day, then the reconciliation once everything
    // settled: the last event of the close is in analytics.
    // The close pays every account after the storm, while the ledger
    // catches up: its first attempt may outlast the 30 s request timeout,
    // and its retries wait for it.
    let close_started = Instant::now();
    let patient = Client {
        held_limit: CLOSE_LIMIT,
        ..client.clone()
    };
    let closed = patient
        .post(
            &at.url("accounting-api", "/v1/billing-cycles/close"),
            &admin,
            &json!({}),
        )
        .await
        .unwrap_or_else(|| {
            let seen = client.seen.lock().unwrap();
            panic!(
                "the close of the day did not succeed: {:?} {:?}\naccounting-api's logs:\n{}",
                seen.unresolved,
                seen.failures,
                system.logs_of("accounting-api")
            )
        });
    eprintln!(
        "cluster: the close of the day answered after {:.1} s",
        close_started.elapsed().as_secs_f64()
    );
    let payouts = closed["cycle"]["payments_count"].as_i64().unwrap();
    let tasks_db = system.db("tasks-api").await;
    let ledger = system.db("accounting-api").await;
    let analytics = system.db("analytics-api").await;
    let seen = std::mem::take(&mut *client.seen.lock().unwrap());
    let created = i64::try_from(seen.created.len()).unwrap();
    // Settled: tasks-api published everything it wrote, accounting applied
    // every task event (or the wait ends and the lines show the loss), and
    // analytics holds every transaction.
    eventually(SETTLE, "tasks-api's outbox to drain", || async {
        let waiting = "SELECT COUNT(*) FROM outbox_events WHERE published_at IS NULL";
        (count(&tasks_db, waiting).await == 0).then_some(())
    })
    .await;
    let events = published_messages(&bus, "tasks").await;
    let named = |name: &str| {
        events
            .iter()
            .filter(|(event, _)| event["event_name"] == name)
            .map(|(event, _)| event["event_id"].as_str().unwrap().to_owned())
            .collect::<HashSet<_>>()
    };
    let charges =
        i64::try_from(named("tasks.assigned").len() + named("tasks.completed").len()).unwrap();
    let charged = "SELECT COUNT(*) FROM transactions WHERE kind <> 'payout'";
    let applied = tokio::time::timeout(SETTLE, async {
        while count(&ledger, charged).await < charges {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    if applied.is_err() {
        eprintln!("cluster: accounting did not apply every task event within {SETTLE:?}");
    }
    let transactions = count(&ledger, "SELECT COUNT(*) FROM transactions").await;
    eventually(SETTLE, "analytics to hold every transaction", || async {
        (count(&analytics, "SELECT COUNT(*) FROM ledger_entries").await == transactions)
            .then_some(())
    })
    .await;
    let assigned_events = i64::try_from(named("tasks.assigned").len()).unwrap();
    let completed_events = i64::try_from(named("tasks.completed").len()).unwrap();
    let fees = count(
        &ledger,
        "SELECT COUNT(*) FROM transactions WHERE kind = 'assignment_fee'",
    )
    .await;
    let rewards = count(
        &ledger,
        "SELECT COUNT(*) FROM transactions WHERE kind = 'task_reward'",
    )
    .await;
    let balances = pairs(
        &ledger,
        "SELECT CAST(account_id AS TEXT), balance_cents FROM balances",
    )
    .await;
    let sums = pairs(
        &ledger,
        "SELECT CAST(account_id AS TEXT), CAST(SUM(amount_cents) AS BIGINT) FROM transactions GROUP BY account_id",
    )
    .await;
    let analytics_balances = pairs(
        &analytics,
        "SELECT CAST(account_id AS TEXT), balance_cents FROM balances",
    )
    .await;
    let emails = count(&ledger, "SELECT COUNT(*) FROM payout_emails").await;
    let lines = vec![
        Line {
            what: "tasks created (201 to a client) / in tasks-api".into(),
            expected: created,
            found: count(&tasks_db, "SELECT COUNT(*) FROM tasks").await,
        },
        Line {
            what: "tasks.created in the stream (distinct)".into(),
            expected: created,
            found: i64::try_from(named("tasks.created").len()).unwrap(),
        },
        Line {
            what: "tasks.completed in the stream (distinct tasks) / done in tasks-api".into(),
            expected: i64::try_from(
                events
                    .iter()
                    .filter(|(event, _)| event["event_name"] == "tasks.completed")
                    .map(|(event, _)| event["data"]["task_id"].to_string())
                    .collect::<HashSet<_>>()
                    .len(),
            )
            .unwrap(),
            found: count(
                &tasks_db,
                "SELECT COUNT(*) FROM tasks WHERE status = 'done'",
            )
            .await,
        },
        Line {
            what: "completions answered 200 that are not done in tasks-api".into(),
            expected: 0,
            found: i64::try_from(seen.completed.len()).unwrap()
                - count_done(&tasks_db, &seen.completed).await,
        },
        Line {
            what: "fees: tasks.assigned events / assignment fees".into(),
            expected: assigned_events,
            found: fees,
        },
        Line {
            what: "rewards: tasks.completed events / task rewards".into(),
            expected: completed_events,
            found: rewards,
        },
        Line {
            what: "accounts whose balance differs from its ledger sum".into(),
            expected: 0,
            found: i64::try_from(
                balances
                    .iter()
                    .filter(|(account, cents)| sums.get(*account).copied().unwrap_or(0) != **cents)
                    .count(),
            )
            .unwrap(),
        },
        Line {
            what: "analytics ledger entries / accounting transactions".into(),
            expected: transactions,
            found: count(&analytics, "SELECT COUNT(*) FROM ledger_entries").await,
        },
        Line {
            what: "accounts whose analytics balance differs from accounting's".into(),
            expected: 0,
            found: i64::try_from(
                balances
                    .iter()
                    .filter(|(account, cents)| {
                        analytics_balances.get(*account).copied().unwrap_or(0) != **cents
                    })
                    .count(),
            )
            .unwrap(),
        },
        Line {
            what: "payouts of the close / payout emails".into(),
            expected: payouts,
            found: emails,
        },
    ];
    let mut writes = seen.writes.clone();
    let stall = longest_gap(
        &mut writes,
        (
            leader_killed.saturating_sub(Duration::from_secs(1)),
            leader_killed + Duration::from_secs(10),
        ),
    );
    eprintln!("\ncluster reconciliation ({shuffled} shuffles during the load):");
    eprintln!("| what | expected | found | lost | doubled |\n|---|---|---|---|---|");
    for line in &lines {
        eprintln!(
            "| {} | {} | {} | {} | {} |",
            line.what,
            line.expected,
            line.found,
            (line.expected - line.found).max(0),
            (line.found - line.expected).max(0)
        );
    }
    eprintln!(
        "failed attempts before a retry succeeded: {:?}",
        seen.failures
    );
    eprintln!(
        "longest pause between successful creates around the TASKS leader's loss: {} ms",
        stall.as_millis()
    );
    let second = 1_000_000_000i128;
    let times = publish_times(&bus, "tasks").await;
    let event_stall = times
        .windows(2)
        .filter(|pair| {
            pair[1] >= leader_killed_at - second && pair[0] <= leader_killed_at + 10 * second
        })
        .map(|pair| pair[1] - pair[0])
        .max()
        .unwrap_or_default();
    eprintln!(
        "longest pause between events stored in TASKS around its leader's loss: {} ms",
        event_stall / 1_000_000
    );
    eprintln!("suite took {:.1} s", suite.elapsed().as_secs_f64());
    eprintln!(
        "requests left unresolved by an interrupted first attempt: {}",
        seen.unresolved.len()
    );
    assert!(
        seen.unclear.is_empty(),
        "answers without a clear status: {:?}",
        seen.unclear
    );
    for line in &lines {
        assert_eq!(line.found, line.expected, "{}", line.what);
    }
    assert!(created > 50, "the load created {created} tasks");
    assert!(
        seen.unresolved.is_empty(),
        "a retry with the same key must succeed once, but these met the reservation of an interrupted attempt: {:?}",
        seen.unresolved
    );
}
