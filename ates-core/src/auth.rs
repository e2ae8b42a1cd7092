//! Stateless verification of auth-api's access tokens, for every service.
//!
//! Tokens are EdDSA (Ed25519) JWTs with a `kid` header. The public keys
//! come from a [`KeySource`]: auth-api's JWKS URL (`AUTH_JWKS_URL`), a JWKS
//! file (`AUTH_JWKS_FILE`), or, inside auth-api, its own key store. Keys are
//! loaded at start and re-fetched when a token names an unknown `kid`, at
//! most once per `min_refresh_interval`. Nothing calls auth per request.
//!
//! Refused: no or malformed token, any algorithm but EdDSA (so `none` and
//! HS256-signed-with-the-public-key are out), an unknown `kid`, a bad
//! signature, a wrong `iss` or `aud`, an expired token (30 s leeway), and an
//! account the service has seen deactivated ([`AccountGate`]). An action
//! needs the role the service last heard of as well as the token's; in
//! auth-api the account's current role alone decides ([`Standing`]), and
//! auth-api also refuses tokens issued before the account's password changed.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use event_schemas::accounts::Role;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, RwLock};
use tokio::time::Instant;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::http::ApiError;

/// A boxed future, for the object-safe traits below.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How soon a failed key fetch may be tried again.
const FAILED_FETCH_RETRY: Duration = Duration::from_secs(1);

/// Leeway for `exp`/`iat` between machines' clocks.
pub const CLOCK_LEEWAY_SECS: u64 = 30;

/// The claims of an aTES access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The account's public id.
    pub sub: Uuid,
    pub role: Role,
    pub email: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// One public key in a JWKS document (RFC 7517/8037: an Ed25519 key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Jwk {
    /// `OKP`
    pub kty: String,
    /// `Ed25519`
    pub crv: String,
    /// The public key, base64url without padding.
    pub x: String,
    pub kid: String,
    /// `EdDSA`
    pub alg: String,
    /// `sig`
    #[serde(rename = "use")]
    pub key_use: String,
}

impl Jwk {
    /// An Ed25519 signing key's public half.
    pub fn ed25519(kid: impl Into<String>, x: impl Into<String>) -> Self {
        Self {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: x.into(),
            kid: kid.into(),
            alg: "EdDSA".into(),
            key_use: "sig".into(),
        }
    }
}

/// The JWKS document served at `/.well-known/jwks.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// Where the public keys come from.
pub trait KeySource: Send + Sync + 'static {
    fn fetch(&self) -> BoxFuture<'_, Result<Jwks, String>>;
}

/// auth-api's JWKS endpoint.
#[derive(Debug, Clone)]
pub struct HttpJwks {
    url: String,
    client: reqwest::Client,
}

impl HttpJwks {
    pub fn new(url: impl Into<String>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Self {
            url: url.into(),
            client,
        }
    }
}

impl KeySource for HttpJwks {
    fn fetch(&self) -> BoxFuture<'_, Result<Jwks, String>> {
        Box::pin(async move {
            let response = self
                .client
                .get(&self.url)
                .send()
                .await
                .map_err(|error| format!("GET {}: {error}", self.url))?;
            if !response.status().is_success() {
                return Err(format!("GET {}: {}", self.url, response.status()));
            }
            response
                .json::<Jwks>()
                .await
                .map_err(|error| format!("GET {}: not a JWKS document: {error}", self.url))
        })
    }
}

/// A JWKS document in a file (for deployments that distribute keys).
#[derive(Debug, Clone)]
pub struct FileJwks(pub std::path::PathBuf);

impl KeySource for FileJwks {
    fn fetch(&self) -> BoxFuture<'_, Result<Jwks, String>> {
        Box::pin(async move {
            let text = tokio::fs::read_to_string(&self.0)
                .await
                .map_err(|error| format!("{}: {error}", self.0.display()))?;
            serde_json::from_str(&text).map_err(|error| format!("{}: {error}", self.0.display()))
        })
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("missing bearer token: send `Authorization: Bearer <access token>`")]
    Missing,
    #[error("malformed token")]
    Malformed,
    #[error("token algorithm {0} is not accepted; only EdDSA")]
    Algorithm(String),
    #[error("token has no key id (kid)")]
    NoKeyId,
    #[error("token is signed with an unknown key")]
    UnknownKey,
    #[error("token has expired")]
    Expired,
    #[error("token is invalid: {0}")]
    Invalid(String),
}

impl From<TokenError> for ApiError {
    fn from(error: TokenError) -> Self {
        ApiError::Unauthorized(error.to_string())
    }
}

/// How many verified tokens are remembered (about 1 KiB each at most).
const VERIFIED_CAPACITY: usize = 1024;
/// The longest a verified token is remembered.
const VERIFIED_TTL: Duration = Duration::from_secs(60);

/// Tokens verified recently, so a client's next requests skip the
/// signature check (EdDSA, ~35 µs a request): the whole token string is the
/// key, an entry ends at the token's expiry (with the leeway) or after
/// [`VERIFIED_TTL`], and the cache is emptied whenever the keys are
/// reloaded (a withdrawn key stops being accepted at once).
#[derive(Default)]
struct VerifiedTokens(std::sync::Mutex<HashMap<String, (Claims, Instant)>>);

impl VerifiedTokens {
    fn get(&self, token: &str) -> Option<Claims> {
        self.get_at(token, Instant::now())
    }

    fn get_at(&self, token: &str, now: Instant) -> Option<Claims> {
        let cache = self.0.lock().ok()?;
        let (claims, until) = cache.get(token)?;
        (now < *until).then(|| claims.clone())
    }

    fn remember(&self, token: &str, claims: &Claims) {
        self.remember_at(
            token,
            claims,
            Instant::now(),
            chrono::Utc::now().timestamp(),
        );
    }

    /// Remembers `claims` of `token` at `now` (`now_unix` on the wall
    /// clock) until the token's expiry or [`VERIFIED_TTL`], whichever comes
    /// first. A full cache drops what ended, or everything when nothing
    /// did: it never holds more than [`VERIFIED_CAPACITY`].
    fn remember_at(&self, token: &str, claims: &Claims, now: Instant, now_unix: i64) {
        let left = claims
            .exp
            .saturating_add(i64::try_from(CLOCK_LEEWAY_SECS).unwrap_or(0))
            .saturating_sub(now_unix);
        let Ok(left) = u64::try_from(left) else {
            return;
        };
        let until = now + VERIFIED_TTL.min(Duration::from_secs(left));
        let Ok(mut cache) = self.0.lock() else {
            return;
        };
        if cache.len() >= VERIFIED_CAPACITY {
            cache.retain(|_, (_, until)| *until > now);
            if cache.len() >= VERIFIED_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(token.to_owned(), (claims.clone(), until));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().map_or(0, |cache| cache.len())
    }

    fn forget_all(&self) {
        if let Ok(mut cache) = self.0.lock() {
            cache.clear();
        }
    }
}

/// Verifies access tokens against the keys of a [`KeySource`].
pub struct TokenVerifier {
    source: Box<dyn KeySource>,
    keys: RwLock<HashMap<String, DecodingKey>>,
    verified: VerifiedTokens,
    last_refresh: Mutex<Option<Instant>>,
    min_refresh_interval: Duration,
    validation: Validation,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("min_refresh_interval", &self.min_refresh_interval)
            .finish_non_exhaustive()
    }
}

impl TokenVerifier {
    /// `issuer` and `audience` must match the token's `iss` and `aud`.
    pub fn new(source: impl KeySource, issuer: &str, audience: &str) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = CLOCK_LEEWAY_SECS;
        Self {
            source: Box::new(source),
            keys: RwLock::new(HashMap::new()),
            verified: VerifiedTokens::default(),
            last_refresh: Mutex::new(None),
            min_refresh_interval: Duration::from_secs(30),
            validation,
        }
    }

    /// How often an unknown `kid` may trigger a re-fetch (default 30 s).
    pub fn with_min_refresh_interval(mut self, interval: Duration) -> Self {
        self.min_refresh_interval = interval;
        self
    }

    /// Loads the keys now (at start); an error leaves the old keys and
    /// lets the first token with an unknown kid try again.
    pub async fn refresh(&self) -> Result<usize, String> {
        let mut last = self.last_refresh.lock().await;
        let loaded = self.load().await;
        if loaded.is_ok() {
            *last = Some(Instant::now());
        }
        loaded
    }

    async fn load(&self) -> Result<usize, String> {
        let jwks = self.source.fetch().await?;
        let mut keys = HashMap::new();
        for jwk in jwks.keys {
            if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
                continue;
            }
            match DecodingKey::from_ed_components(&jwk.x) {
                Ok(key) => {
                    keys.insert(jwk.kid, key);
                }
                Err(error) => tracing::warn!(kid = %jwk.kid, %error, "skipping an unreadable key"),
            }
        }
        let count = keys.len();
        *self.keys.write().await = keys;
        self.verified.forget_all();
        Ok(count)
    }

    /// Re-fetches on an unknown kid, unless that happened too recently.
    async fn refresh_for_unknown_kid(&self) {
        let mut last = self.last_refresh.lock().await;
        if last.is_some_and(|at| at.elapsed() < self.min_refresh_interval) {
            return;
        }
        match self.load().await {
            Ok(_) => *last = Some(Instant::now()),
            Err(error) => {
                tracing::warn!(%error, "cannot refresh the token signing keys");
                // A failed fetch (auth not up yet) may be tried again soon.
                let retry_soon = self.min_refresh_interval.saturating_sub(FAILED_FETCH_RETRY);
                *last = Instant::now()
                    .checked_sub(retry_soon)
                    .or(Some(Instant::now()));
            }
        }
    }

    /// Checks a token and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        if let Some(claims) = self.verified.get(token) {
            return Ok(claims);
        }
        let claims = self.check(token).await?;
        self.verified.remember(token, &claims);
        Ok(claims)
    }

    async fn check(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|error| {
            match error.kind() {
                jsonwebtoken::errors::ErrorKind::Json(_)
                | jsonwebtoken::errors::ErrorKind::Base64(_) => {
                    // An unknown `alg` (such as "none") fails to parse too.
                    unaccepted_algorithm(token).unwrap_or(TokenError::Malformed)
                }
                _ => TokenError::Malformed,
            }
        })?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Algorithm(format!("{:?}", header.alg)));
        }
        let kid = header.kid.ok_or(TokenError::NoKeyId)?;
        if !self.keys.read().await.contains_key(&kid) {
            self.refresh_for_unknown_kid().await;
        }
        let keys = self.keys.read().await;
        let key = keys.get(&kid).ok_or(TokenError::UnknownKey)?;
        let data =
            jsonwebtoken::decode::<Claims>(token, key, &self.validation).map_err(|error| {
                match error.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                        TokenError::Invalid("bad signature".into())
                    }
                    jsonwebtoken::errors::ErrorKind::InvalidIssuer => {
                        TokenError::Invalid("wrong issuer".into())
                    }
                    jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                        TokenError::Invalid("wrong audience".into())
                    }
                    other => TokenError::Invalid(format!("{other:?}")),
                }
            })?;
        Ok(data.claims)
    }
}

/// The `alg` of a token whose header does not parse as a known algorithm.
fn unaccepted_algorithm(token: &str) -> Option<TokenError> {
    use base64::Engine as _;
    let header = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let alg = value.get("alg")?.as_str()?;
    Some(TokenError::Algorithm(alg.to_owned()))
}

/// What a service knows of an account when one of its tokens arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// The account's own record (auth-api): its role decides, whatever the
    /// token says, and an inactive account is refused, as is a token issued
    /// (`iat`) before `tokens_valid_since` (a Unix second: the account's
    /// password changed then, so its older sessions are over).
    Current {
        role: Role,
        active: bool,
        tokens_valid_since: Option<i64>,
    },
    /// What a replica last heard (account events): an inactive account is
    /// refused, and an action needs both the token's role and this one to
    /// permit it (so a demotion counts as soon as the event arrives).
    LastHeard { role: Role, active: bool },
    /// A replica that has not heard of the account yet: the token decides.
    Unknown,
    /// The account does not exist (auth-api): refused.
    Missing,
}

/// Where a service looks up the [`Standing`] of a token's account, on every
/// request (a verified token is remembered; its account's standing is not).
pub trait AccountGate: Send + Sync + 'static {
    fn standing(&self, account_id: Uuid) -> BoxFuture<'_, Result<Standing, ApiError>>;
}

/// A gate that knows nobody (for services without an account replica).
#[derive(Debug, Clone, Copy)]
pub struct OpenGate;

impl AccountGate for OpenGate {
    fn standing(&self, _account_id: Uuid) -> BoxFuture<'_, Result<Standing, ApiError>> {
        Box::pin(async { Ok(Standing::Unknown) })
    }
}

/// What a service's state holds to authenticate requests.
#[derive(Clone)]
pub struct Authenticator {
    pub verifier: Arc<TokenVerifier>,
    pub gate: Arc<dyn AccountGate>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").finish_non_exhaustive()
    }
}

/// The caller of a request, from a verified access token and the
/// account's [`Standing`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    pub account_id: Uuid,
    /// The role the caller acts with: the account's current role in
    /// auth-api, the token's role elsewhere.
    pub role: Role,
    /// Elsewhere, the role the service last heard of, when it differs from
    /// the token's: an action must be open to this role too.
    pub heard_role: Option<Role>,
    pub email: String,
}

impl AuthUser {
    /// 403 unless the caller has one of `roles` (both by the token and by
    /// what the service last heard).
    pub fn require_role(&self, roles: &[Role]) -> Result<(), ApiError> {
        if self.has_role(roles) {
            return Ok(());
        }
        let allowed: Vec<&str> = roles.iter().map(|role| role.as_str()).collect();
        let now = self.heard_role.unwrap_or(self.role);
        let you = if roles.contains(&self.role) {
            format!("your role is now {now}")
        } else {
            format!("you are {}", self.role)
        };
        Err(ApiError::Forbidden(format!(
            "this needs one of the roles {}; {you}",
            allowed.join(", "),
        )))
    }

    pub fn has_role(&self, roles: &[Role]) -> bool {
        roles.contains(&self.role) && self.heard_role.is_none_or(|heard| roles.contains(&heard))
    }

    /// The caller of a verified token, as the gate knows the account.
    fn from_claims(claims: Claims, standing: Standing) -> Result<Self, ApiError> {
        let (role, heard_role) = match standing {
            Standing::Current { active: false, .. } | Standing::LastHeard { active: false, .. } => {
                return Err(ApiError::Unauthorized("this account is deactivated".into()));
            }
            Standing::Missing => {
                return Err(ApiError::Unauthorized("this account does not exist".into()));
            }
            Standing::Current {
                tokens_valid_since: Some(since),
                ..
            } if claims.iat < since => {
                return Err(ApiError::Unauthorized(
                    "this token was issued before the account's password changed; log in again"
                        .into(),
                ));
            }
            Standing::Current { role, .. } => (role, None),
            Standing::LastHeard { role, .. } => {
                (claims.role, (role != claims.role).then_some(role))
            }
            Standing::Unknown => (claims.role, None),
        };
        Ok(AuthUser {
            account_id: claims.sub,
            role,
            heard_role,
            email: claims.email,
        })
    }
}

/// The token of an `Authorization: Bearer <token>` value. The scheme is
/// matched in any letter case (`bearer`, `BEARER`: RFC 7235 section 2.1);
/// the token itself is taken as sent.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl<S> FromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    Authenticator: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let authenticator = Authenticator::from_ref(state);
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(bearer_token)
            .ok_or(TokenError::Missing)?;
        let claims = authenticator.verifier.verify(token).await?;
        let standing = authenticator.gate.standing(claims.sub).await?;
        AuthUser::from_claims(claims, standing)
    }
}

/// `Option<AuthUser>`: `None` when the request has no `Authorization`
/// header (an anonymous caller, for endpoints open to both); a header that
/// is there must hold a valid token (401 otherwise, never anonymous).
impl<S> OptionalFromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    Authenticator: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        if !parts.headers.contains_key(AUTHORIZATION) {
            return Ok(None);
        }
        <AuthUser as FromRequestParts<S>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            iss: "ates-auth".into(),
            aud: "ates".into(),
            sub: Uuid::nil(),
            role: Role::Worker,
            email: "kesha@popug.inc".into(),
            iat: exp - 900,
            exp,
            jti: "jti".into(),
        }
    }

    const NOW_UNIX: i64 = 1_800_000_000;

    #[test]
    fn a_verified_token_is_remembered_for_60_s_at_most() {
        let cache = VerifiedTokens::default();
        let now = Instant::now();
        cache.remember_at("long", &claims(NOW_UNIX + 900), now, NOW_UNIX);
        assert!(
            cache
                .get_at("long", now + Duration::from_secs(59))
                .is_some()
        );
        assert!(
            cache
                .get_at("long", now + Duration::from_secs(60))
                .is_none()
        );
    }

    #[test]
    fn a_verified_token_is_remembered_until_its_expiry_with_the_leeway_at_most() {
        let cache = VerifiedTokens::default();
        let now = Instant::now();
        // 10 s left, plus the 30 s leeway: 40 s.
        cache.remember_at("short", &claims(NOW_UNIX + 10), now, NOW_UNIX);
        assert!(
            cache
                .get_at("short", now + Duration::from_secs(39))
                .is_some()
        );
        assert!(
            cache
                .get_at("short", now + Duration::from_secs(40))
                .is_none()
        );
        // Expired beyond the leeway: not remembered at all.
        cache.remember_at("expired", &claims(NOW_UNIX - 31), now, NOW_UNIX);
        assert!(cache.get_at("expired", now).is_none());
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity() {
        let cache = VerifiedTokens::default();
        let now = Instant::now();
        // Full of entries that end after 40 s and one that lasts 60 s.
        for index in 1..VERIFIED_CAPACITY {
            cache.remember_at(&format!("t{index}"), &claims(NOW_UNIX + 10), now, NOW_UNIX);
        }
        cache.remember_at("long", &claims(NOW_UNIX + 900), now, NOW_UNIX);
        assert_eq!(cache.len(), VERIFIED_CAPACITY);

        // Once the short ones ended, a new entry drops only them.
        let later = now + Duration::from_secs(45);
        cache.remember_at("next", &claims(NOW_UNIX + 900), later, NOW_UNIX + 45);
        assert_eq!(cache.len(), 2);
        assert!(cache.get_at("long", later).is_some());
        assert!(cache.get_at("next", later).is_some());

        // Full of live entries, a new one empties it first.
        for index in 2..VERIFIED_CAPACITY {
            cache.remember_at(
                &format!("u{index}"),
                &claims(NOW_UNIX + 900),
                later,
                NOW_UNIX + 45,
            );
        }
        assert_eq!(cache.len(), VERIFIED_CAPACITY);
        cache.remember_at("last", &claims(NOW_UNIX + 900), later, NOW_UNIX + 45);
        assert_eq!(cache.len(), 1);
        assert!(cache.get_at("last", later).is_some());
    }
}
