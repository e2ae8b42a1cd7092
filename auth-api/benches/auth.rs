//! What authentication costs: argon2id password verification, login over
//! HTTP (p50/p99), and stateless token verification per operation.
//! `cargo bench -p auth-api --bench auth`.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use ates_core::auth::{HttpJwks, TokenVerifier};
use ates_core::service::AtesService;
use ates_core::testing::{TestBroker, TestDatabase, percentile, service_settings};
use auth_api::config::Config;
use auth_api::domain::accounts::SignUpPolicy;
use auth_api::domain::passwords;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    // argon2id verification alone.
    let stored = passwords::hash("correct horse battery".into())
        .await
        .unwrap();
    let mut hashing = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        assert!(
            passwords::verify("correct horse battery".into(), Some(stored.clone()))
                .await
                .unwrap()
        );
        hashing.push(started.elapsed());
    }

    // Login over HTTP against the real service.
    let broker = TestBroker::start().await;
    let database = TestDatabase::create().await;
    let config = Config {
        service: service_settings("auth-api", &database, &broker, "unused"),
        access_token_ttl: Duration::from_secs(900),
        refresh_token_ttl: Duration::from_secs(3600),
        signing_key_grace: Duration::from_secs(3600),
        signing_key_lead: Duration::from_secs(35),
        admin_email: Some("admin@popug.inc".into()),
        admin_password: Some("admin password 1".into()),
        login_max_failures: 5,
        login_failure_window: Duration::from_secs(900),
        signup: SignUpPolicy::anyone(),
        client_max_attempts: 300,
        client_window: Duration::from_secs(60),
        trusted_proxies: Default::default(),
        password_hashing: Default::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let service = auth_api::AuthApi::prepare(config).await.unwrap();
    tokio::spawn(service.run(listener, shutdown.clone()));
    let client = reqwest::Client::new();
    let login = json!({"email": "admin@popug.inc", "password": "admin password 1"});
    let mut logins = Vec::new();
    let mut token = String::new();
    for _ in 0..40 {
        let started = Instant::now();
        let response = client
            .post(format!("{address}/v1/auth/login"))
            .json(&login)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        let body: Value = response.json().await.unwrap();
        logins.push(started.elapsed());
        token = body["access_token"].as_str().unwrap().to_owned();
    }

    // Verification as another service does it: keys from the JWKS URL once.
    let verifier = Arc::new(TokenVerifier::new(
        HttpJwks::new(format!("{address}/.well-known/jwks.json")),
        "ates-auth",
        "ates",
    ));
    verifier.refresh().await.unwrap();
    let rounds = 20_000u32;
    let started = Instant::now();
    for _ in 0..rounds {
        verifier.verify(&token).await.unwrap();
    }
    let per_verify = started.elapsed() / rounds;
    shutdown.cancel();

    println!("| measure | value |");
    println!("|---|---:|");
    println!(
        "| argon2id verify (19 MiB, t=2, p=1), median of 20 | {} |",
        ms(percentile(&mut hashing, 50))
    );
    println!(
        "| POST /v1/auth/login, sequential, p50 of 40 | {} |",
        ms(percentile(&mut logins, 50))
    );
    println!(
        "| POST /v1/auth/login, sequential, p99 of 40 | {} |",
        ms(percentile(&mut logins, 99))
    );
    println!(
        "| access-token verification (EdDSA, in-process), per op | {:.1} µs |",
        per_verify.as_secs_f64() * 1e6
    );
}
