//! The auth-api test harness (feature `testing`): the real service on
//! 127.0.0.1:0 with a fresh database and a real JetStream broker, and one
//! helper per endpoint. Other services' tests use it to get real tokens and
//! real account events.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::AuthApi;
use crate::config::Config;
use crate::domain::accounts::SignUpPolicy;
use crate::domain::passwords::HashingSettings;
pub use crate::routes::accounts::{Account, CreatedAccount};
use crate::routes::client::TrustedProxies;
pub use crate::routes::sessions::TokenResponse;
use ates_core::bus::EventBus;
use ates_core::service::AtesService;
use ates_core::testing::{
    ApiClient, TestBroker, TestDatabase, answer, eventually, published_events, service_settings,
};
pub use event_schemas::accounts::Role;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const ADMIN_EMAIL: &str = "admin@popug.inc";
pub const ADMIN_PASSWORD: &str = "admin password 1";
pub const PASSWORD: &str = "correct horse battery";

/// A popug of some role, with a fresh access token: what the tests of
/// every service act as.
#[derive(Debug, Clone)]
pub struct Popug {
    pub id: String,
    pub email: String,
    pub token: String,
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub config: Config,
    pub bus: EventBus,
    pub broker: TestBroker,
    pub database: TestDatabase,
    /// Password checks the running instance has run (hashes compared).
    pub password_checks: Arc<AtomicU64>,
    shutdown: CancellationToken,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Another auth-api instance on a [`TestApp`]'s database and broker, as
/// behind a load balancer; stopped when dropped.
pub struct Instance {
    pub address: String,
    /// Password checks this instance has run.
    pub password_checks: Arc<AtomicU64>,
    shutdown: CancellationToken,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Instance {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

/// Starts the service with `config` on 127.0.0.1:0: its address, its
/// password-check counter and the server task.
async fn start_instance(
    config: &Config,
    shutdown: &CancellationToken,
) -> (String, Arc<AtomicU64>, JoinHandle<anyhow::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let prepared = AuthApi::prepare(config.clone()).await.unwrap();
    let password_checks = prepared.state.sessions.password_checks.clone();
    let server = tokio::spawn(prepared.run(listener, shutdown.clone()));
    (address, password_checks, server)
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn test_config(database: &TestDatabase, broker: &TestBroker) -> Config {
    Config {
        service: service_settings(
            "auth-api",
            database,
            broker,
            "unused: auth-api reads its own keys",
        ),
        access_token_ttl: Duration::from_secs(900),
        refresh_token_ttl: Duration::from_secs(3600),
        signing_key_grace: Duration::from_secs(3600),
        signing_key_lead: Duration::from_secs(35),
        admin_email: Some(ADMIN_EMAIL.into()),
        admin_password: Some(ADMIN_PASSWORD.into()),
        login_max_failures: 3,
        login_failure_window: Duration::from_secs(900),
        signup: SignUpPolicy::anyone(),
        // High enough that no test but the address tests meets it.
        client_max_attempts: 10_000,
        client_window: Duration::from_secs(60),
        trusted_proxies: TrustedProxies::default(),
        password_hashing: HashingSettings::default(),
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns with a changed configuration.
    pub async fn spawn_with(customize: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_on(TestBroker::start().await, customize).await
    }

    /// Spawns on an existing broker (for tests of several services).
    pub async fn spawn_on(broker: TestBroker, customize: impl FnOnce(&mut Config)) -> Self {
        ates_core::telemetry::init_for_tests();
        let database = TestDatabase::create().await;
        let mut config = test_config(&database, &broker);
        customize(&mut config);
        let bus = EventBus::connect(&broker.bus_config("auth-api-test"))
            .await
            .unwrap();
        let mut app = Self {
            address: String::new(),
            client: reqwest::Client::new(),
            config,
            bus,
            broker,
            database,
            password_checks: Arc::default(),
            shutdown: CancellationToken::new(),
            server: None,
        };
        app.start().await;
        app
    }

    async fn start(&mut self) {
        self.shutdown = CancellationToken::new();
        let (address, password_checks, server) = start_instance(&self.config, &self.shutdown).await;
        self.address = address;
        self.password_checks = password_checks;
        self.server = Some(server);
    }

    /// Starts another instance on this app's database and broker, with the
    /// same configuration.
    pub async fn another_instance(&self) -> Instance {
        let shutdown = CancellationToken::new();
        let (address, password_checks, _server) = start_instance(&self.config, &shutdown).await;
        Instance {
            address,
            password_checks,
            shutdown,
        }
    }

    /// Password checks the running instance has run so far.
    pub fn password_checks_run(&self) -> u64 {
        self.password_checks.load(Ordering::SeqCst)
    }

    /// Stops the service and starts it again on the same database.
    pub async fn restart(&mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
        self.start().await;
    }

    /// Where other services fetch the public keys.
    pub fn jwks_url(&self) -> String {
        self.url("/.well-known/jwks.json")
    }

    /// Signs `email` up, gives it `role` and logs it in.
    pub async fn popug(&self, email: &str, role: &str) -> Popug {
        let id = self.account_with_role(email, role).await;
        Popug {
            id,
            email: email.to_owned(),
            token: self.access_token(email).await,
        }
    }

    /// Signs `email` up as a worker, gives it `role` (as the admin) and
    /// returns its id.
    pub async fn account_with_role(&self, email: &str, role: &str) -> String {
        let id = self.worker(email).await.account.id.to_string();
        if role != "worker" {
            self.set_role(&id, role).await;
        }
        id
    }

    /// Gives an account another role, as the admin.
    pub async fn set_role(&self, account_id: &str, role: &str) {
        self.change_as_admin(account_id, &json!({"role": role}))
            .await;
    }

    /// Deactivates an account as the admin.
    pub async fn deactivate(&self, account_id: &str) {
        self.change_as_admin(account_id, &json!({"active": false}))
            .await;
    }

    /// Changes an account as the bootstrap admin; the change must succeed.
    async fn change_as_admin(&self, account_id: &str, change: &Value) -> Account {
        let admin = self.admin_token().await;
        self.update_account(&admin, account_id, change).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client
            .patch(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn sign_up(&self, email: &str, full_name: &str) -> Response {
        self.post(
            "/v1/accounts",
            &json!({"email": email, "password": PASSWORD, "full_name": full_name}),
        )
        .await
    }

    /// Signs `email` up (with [`PASSWORD`]) and returns the new account;
    /// the sign-up must succeed.
    pub async fn worker(&self, email: &str) -> CreatedAccount {
        let response = self.sign_up(email, "A Popug").await;
        answer(
            response,
            StatusCode::CREATED,
            &format!("sign-up of {email}"),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/v1/auth/login",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// Logs in and returns the new session's tokens; the login must succeed.
    pub async fn tokens(&self, email: &str, password: &str) -> TokenResponse {
        let response = self.login(email, password).await;
        answer(response, StatusCode::OK, &format!("login of {email}")).await
    }

    /// A fresh access token of `email`, logged in with [`PASSWORD`].
    pub async fn access_token(&self, email: &str) -> String {
        self.tokens(email, PASSWORD).await.access_token
    }

    /// A fresh access token of the bootstrap admin.
    pub async fn admin_token(&self) -> String {
        self.tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await.access_token
    }

    /// The account `token` belongs to (`GET /v1/accounts/me`); the token
    /// must be accepted.
    pub async fn me(&self, token: &str) -> Account {
        let response = self.get("/v1/accounts/me", Some(token)).await;
        answer(response, StatusCode::OK, "GET /v1/accounts/me").await
    }

    /// The id of the account `token` belongs to (`GET /v1/accounts/me`).
    pub async fn account_id_of(&self, token: &str) -> String {
        self.me(token).await.id.to_string()
    }

    /// Every account, oldest first, as `token` (an admin's) sees them
    /// (`GET /v1/accounts`, page after page); each page must succeed.
    pub async fn accounts(&self, token: &str) -> Vec<Account> {
        let api = ApiClient {
            address: self.address.clone(),
            client: self.client.clone(),
        };
        api.get_all("/v1/accounts", token).await
    }

    /// One account as `token` sees it (`GET /v1/accounts/{id}`); the
    /// request must succeed.
    pub async fn account(&self, token: &str, account_id: &str) -> Account {
        let path = format!("/v1/accounts/{account_id}");
        let response = self.get(&path, Some(token)).await;
        answer(response, StatusCode::OK, &format!("GET {path}")).await
    }

    /// Changes an account as `token` (`PATCH /v1/accounts/{id}`) and
    /// returns it changed; the change must succeed.
    pub async fn update_account(&self, token: &str, account_id: &str, change: &Value) -> Account {
        let path = format!("/v1/accounts/{account_id}");
        let response = self.patch(&path, token, change).await;
        answer(response, StatusCode::OK, &format!("PATCH {path} {change}")).await
    }

    /// Creates an account as `token` (an admin's; `POST /v1/accounts`);
    /// the creation must succeed.
    pub async fn create_account(&self, token: &str, body: &Value) -> CreatedAccount {
        let response = self.post_as("/v1/accounts", token, body).await;
        answer(
            response,
            StatusCode::CREATED,
            &format!("POST /v1/accounts {body}"),
        )
        .await
    }

    /// `POST /v1/auth/refresh`, whatever it answers.
    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post("/v1/auth/refresh", &json!({"refresh_token": refresh_token}))
            .await
    }

    /// Spends `refresh_token` for the session's next tokens; the refresh
    /// must succeed.
    pub async fn refreshed(&self, refresh_token: &str) -> TokenResponse {
        let response = self.refresh(refresh_token).await;
        answer(response, StatusCode::OK, "POST /v1/auth/refresh").await
    }

    pub async fn logout(&self, refresh_token: &str) -> Response {
        self.post("/v1/auth/logout", &json!({"refresh_token": refresh_token}))
            .await
    }

    /// A POST with a bearer token.
    pub async fn post_as(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// `POST /v1/auth/password`.
    pub async fn change_password(&self, email: &str, current: &str, new: &str) -> Response {
        self.post(
            "/v1/auth/password",
            &json!({"email": email, "current_password": current, "new_password": new}),
        )
        .await
    }

    /// Changes the password of `email` and returns the new session's
    /// tokens; the change must succeed.
    pub async fn changed_password(&self, email: &str, current: &str, new: &str) -> TokenResponse {
        let response = self.change_password(email, current, new).await;
        answer(
            response,
            StatusCode::OK,
            &format!("password change of {email}"),
        )
        .await
    }

    /// `POST /v1/accounts/{id}/temporary-password` as `token`; `None`: generated.
    pub async fn set_temporary_password(
        &self,
        token: &str,
        account_id: &str,
        password: Option<&str>,
    ) -> Response {
        let body = match password {
            Some(password) => json!({"password": password}),
            None => json!({}),
        };
        self.post_as(
            &format!("/v1/accounts/{account_id}/temporary-password"),
            token,
            &body,
        )
        .await
    }

    /// Sets a temporary password as `token` (an admin's; `None`: generated)
    /// and returns the account; the request must succeed.
    pub async fn temporary_password_set(
        &self,
        token: &str,
        account_id: &str,
        password: Option<&str>,
    ) -> CreatedAccount {
        let response = self
            .set_temporary_password(token, account_id, password)
            .await;
        answer(response, StatusCode::OK, "setting a temporary password").await
    }

    /// The account events published so far, each valid against the registry.
    pub async fn account_events(&self) -> Vec<Value> {
        published_events(&self.bus, "accounts").await
    }

    /// Waits until `count` account events with the given name exist.
    /// Waits until exactly `count` events named `name` are in the stream
    /// (more is a failure too: the wait times out saying what it wanted).
    pub async fn wait_for_events(&self, name: &str, count: usize) -> Vec<Value> {
        eventually(
            Duration::from_secs(20),
            &format!("exactly {count} {name}"),
            || async {
                let matching: Vec<Value> = self
                    .account_events()
                    .await
                    .into_iter()
                    .filter(|event| event["event_name"] == name)
                    .collect();
                (matching.len() == count).then_some(matching)
            },
        )
        .await
    }
}
