//! A token from auth-api verifies with PyJWT against the served JWKS.

#![allow(clippy::unwrap_used)]

mod support;

use std::process::Command;

use serde_json::Value;
use support::TestApp;

#[tokio::test]
async fn a_token_verifies_with_pyjwt_against_the_served_jwks() {
    let app = TestApp::spawn().await;
    let account = app.worker("kesha@popug.inc").await.account;
    let token = app.access_token("kesha@popug.inc").await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/verify_with_pyjwt.py"
    );
    let jwks_url = app.url("/.well-known/jwks.json");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args([script, &jwks_url, &token, "ates-auth", "ates"])
            .output()
            .expect("python3 runs")
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("No module named 'jwt'"),
        "PyJWT is missing: run `make deps` (pip install 'pyjwt[crypto]')"
    );
    assert!(output.status.success(), "PyJWT refused the token: {stderr}");
    let claims: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(claims["sub"], account.id.to_string());
    assert_eq!(claims["role"], "worker");

    // And PyJWT refuses a token whose signature was altered (still valid
    // base64url, so nothing but the signature check can refuse it).
    let token = app.access_token("kesha@popug.inc").await;
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
    let tampered = format!("{signed}.{flipped}{}", &signature[1..]);
    let jwks_url = app.url("/.well-known/jwks.json");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args([script, &jwks_url, &tampered, "ates-auth", "ates"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("InvalidSignatureError"),
        "refused for its signature, not another reason: {stderr}"
    );
}
