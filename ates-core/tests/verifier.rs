//! The stateless token verifier every service uses: what it accepts, what
//! it refuses, and when it re-fetches the keys.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ates_core::auth::{BoxFuture, Claims, Jwk, Jwks, KeySource, TokenError, TokenVerifier};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use event_schemas::accounts::Role;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngCore;
use tokio::sync::Mutex;
use uuid::Uuid;

const ISSUER: &str = "ates-auth";
const AUDIENCE: &str = "ates";

struct Key {
    kid: String,
    signing: SigningKey,
}

impl Key {
    fn new(kid: &str) -> Self {
        let mut seed = [0u8; 32];
        rand::rng().fill_bytes(&mut seed);
        Self {
            kid: kid.into(),
            signing: SigningKey::from_bytes(&seed),
        }
    }

    fn public_x(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.signing.verifying_key().as_bytes())
    }

    fn jwk(&self) -> Jwk {
        Jwk::ed25519(&self.kid, self.public_x())
    }

    fn sign(&self, claims: &Claims) -> String {
        let der = self.signing.to_pkcs8_der().unwrap();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(der.as_bytes())).unwrap()
    }
}

/// A key source the test can change, counting its fetches.
#[derive(Clone, Default)]
struct Keys {
    jwks: Arc<Mutex<Jwks>>,
    fetches: Arc<AtomicUsize>,
    down: Arc<std::sync::atomic::AtomicBool>,
}

impl Keys {
    async fn publish(&self, keys: &[&Key]) {
        *self.jwks.lock().await = Jwks {
            keys: keys.iter().map(|key| key.jwk()).collect(),
        };
    }
}

impl KeySource for Keys {
    fn fetch(&self) -> BoxFuture<'_, Result<Jwks, String>> {
        Box::pin(async move {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                return Err("auth-api is not up".into());
            }
            Ok(self.jwks.lock().await.clone())
        })
    }
}

fn claims() -> Claims {
    let now = Utc::now().timestamp();
    Claims {
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        sub: Uuid::new_v4(),
        role: Role::Worker,
        email: "kesha@popug.inc".into(),
        iat: now,
        exp: now + 900,
        jti: Uuid::new_v4().to_string(),
    }
}

async fn verifier_with(key: &Key) -> (TokenVerifier, Keys) {
    let keys = Keys::default();
    keys.publish(&[key]).await;
    let verifier = TokenVerifier::new(keys.clone(), ISSUER, AUDIENCE)
        .with_min_refresh_interval(Duration::from_millis(200));
    verifier.refresh().await.unwrap();
    (verifier, keys)
}

fn segment(json: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(json).unwrap())
}

#[tokio::test]
async fn a_valid_token_gives_its_claims() {
    let key = Key::new("k1");
    let (verifier, _) = verifier_with(&key).await;
    let claims = claims();
    assert_eq!(verifier.verify(&key.sign(&claims)).await, Ok(claims));
}

#[tokio::test]
async fn alg_none_is_refused() {
    let key = Key::new("k1");
    let (verifier, _) = verifier_with(&key).await;
    let header = segment(&serde_json::json!({"alg": "none", "typ": "JWT", "kid": "k1"}));
    let payload = segment(&serde_json::to_value(claims()).unwrap());
    let token = format!("{header}.{payload}.");
    assert_eq!(
        verifier.verify(&token).await,
        Err(TokenError::Algorithm("none".into()))
    );
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let key = Key::new("k1");
    let (verifier, _) = verifier_with(&key).await;
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    let forged = jsonwebtoken::encode(
        &header,
        &claims(),
        &EncodingKey::from_secret(key.public_x().as_bytes()),
    )
    .unwrap();
    assert!(matches!(
        verifier.verify(&forged).await,
        Err(TokenError::Algorithm(alg)) if alg == "HS256"
    ));
}

#[tokio::test]
async fn wrong_issuer_or_audience_is_refused() {
    let key = Key::new("k1");
    let (verifier, _) = verifier_with(&key).await;
    let wrong_issuer = Claims {
        iss: "someone-else".into(),
        ..claims()
    };
    assert_eq!(
        verifier.verify(&key.sign(&wrong_issuer)).await,
        Err(TokenError::Invalid("wrong issuer".into()))
    );
    let wrong_audience = Claims {
        aud: "another-system".into(),
        ..claims()
    };
    assert_eq!(
        verifier.verify(&key.sign(&wrong_audience)).await,
        Err(TokenError::Invalid("wrong audience".into()))
    );
}

#[tokio::test]
async fn an_expired_token_is_refused_after_the_leeway_only() {
    let key = Key::new("k1");
    let (verifier, _) = verifier_with(&key).await;
    let now = Utc::now().timestamp();
    let just_expired = Claims {
        iat: now - 900,
        exp: now - 10,
        ..claims()
    };
    assert!(
        verifier.verify(&key.sign(&just_expired)).await.is_ok(),
        "within the 30 s leeway"
    );
    let expired = Claims {
        iat: now - 900,
        exp: now - 120,
        ..claims()
    };
    assert_eq!(
        verifier.verify(&key.sign(&expired)).await,
        Err(TokenError::Expired)
    );
}

#[tokio::test]
async fn a_remembered_token_still_expires() {
    let key = Key::new("k1");
    let (verifier, _) = verifier_with(&key).await;
    let now = Utc::now().timestamp();
    // One second of leeway left.
    let token = key.sign(&Claims {
        iat: now - 900,
        exp: now - 29,
        ..claims()
    });
    assert!(verifier.verify(&token).await.is_ok());
    assert!(verifier.verify(&token).await.is_ok(), "remembered");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(verifier.verify(&token).await, Err(TokenError::Expired));
}

#[tokio::test]
async fn a_remembered_token_is_refused_once_its_key_is_withdrawn() {
    let old = Key::new("k1");
    let (verifier, keys) = verifier_with(&old).await;
    let token = old.sign(&claims());
    assert!(verifier.verify(&token).await.is_ok());
    keys.publish(&[&Key::new("k2")]).await;
    verifier.refresh().await.unwrap();
    assert_eq!(verifier.verify(&token).await, Err(TokenError::UnknownKey));
}

#[tokio::test]
async fn a_bad_signature_or_garbage_is_refused() {
    let key = Key::new("k1");
    let impostor = Key::new("k1");
    let (verifier, _) = verifier_with(&key).await;
    assert_eq!(
        verifier.verify(&impostor.sign(&claims())).await,
        Err(TokenError::Invalid("bad signature".into()))
    );
    assert_eq!(
        verifier.verify("not-a-token").await,
        Err(TokenError::Malformed)
    );
    assert_eq!(verifier.verify("a.b.c").await, Err(TokenError::Malformed));
}

#[tokio::test]
async fn an_unknown_kid_triggers_one_rate_limited_refetch() {
    let old = Key::new("old");
    let (verifier, keys) = verifier_with(&old).await;
    assert_eq!(keys.fetches.load(Ordering::SeqCst), 1);

    // A stranger's key is unknown even after a re-fetch.
    let stranger = Key::new("stranger");
    assert_eq!(
        verifier.verify(&stranger.sign(&claims())).await,
        Err(TokenError::UnknownKey)
    );
    assert_eq!(
        keys.fetches.load(Ordering::SeqCst),
        1,
        "the start-up fetch is too recent"
    );

    // auth rotates keys: the new kid is fetched once it is allowed again.
    let new = Key::new("new");
    keys.publish(&[&new, &old]).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    let token = new.sign(&claims());
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(keys.fetches.load(Ordering::SeqCst), 2);
    assert!(verifier.verify(&token).await.is_ok());
    assert!(
        verifier.verify(&old.sign(&claims())).await.is_ok(),
        "the old key still verifies"
    );
    assert_eq!(
        keys.fetches.load(Ordering::SeqCst),
        2,
        "known kids need no fetch"
    );

    // Unknown kids in a burst cause at most one more fetch.
    tokio::time::sleep(Duration::from_millis(250)).await;
    for _ in 0..20 {
        assert_eq!(
            verifier.verify(&stranger.sign(&claims())).await,
            Err(TokenError::UnknownKey)
        );
    }
    assert_eq!(keys.fetches.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_token_without_kid_is_refused() {
    let key = Key::new("k1");
    let (verifier, _) = verifier_with(&key).await;
    let der = key.signing.to_pkcs8_der().unwrap();
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::EdDSA),
        &claims(),
        &EncodingKey::from_ed_der(der.as_bytes()),
    )
    .unwrap();
    assert_eq!(verifier.verify(&token).await, Err(TokenError::NoKeyId));
}

#[tokio::test]
async fn keys_that_could_not_be_fetched_at_start_are_fetched_on_the_first_token() {
    let key = Key::new("k1");
    let keys = Keys::default();
    keys.publish(&[&key]).await;
    keys.down.store(true, Ordering::SeqCst);
    let verifier = TokenVerifier::new(keys.clone(), ISSUER, AUDIENCE);
    assert!(verifier.refresh().await.is_err(), "auth-api is not up yet");
    keys.down.store(false, Ordering::SeqCst);
    let claims = claims();
    assert_eq!(verifier.verify(&key.sign(&claims)).await, Ok(claims));
}
