//! The signing keys: Ed25519, generated on first start and kept in the
//! database (never regenerated on restart). The oldest key not yet retired
//! signs. Rotation adds a key and schedules the retirement of the one
//! before it `lead` from now: the new key is in the JWKS at once but signs
//! only from then, so every verifier can have fetched it first; the old
//! one then stays in the JWKS for its grace period, so tokens it signed
//! still verify until they expire.

use std::time::Duration;

use ates_core::auth::{BoxFuture, Jwk, Jwks, KeySource};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::EncodingKey;
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QueryOrder,
};

use crate::db::signing_key::{self, Column};

/// The key that signs new tokens.
#[derive(Clone)]
pub struct ActiveKey {
    pub kid: String,
    pub encoding_key: EncodingKey,
}

impl std::fmt::Debug for ActiveKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn generate(now: DateTime<Utc>) -> signing_key::ActiveModel {
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    let key = SigningKey::from_bytes(&seed);
    let public = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
    let kid = format!("{}-{}", now.format("%Y%m%d%H%M%S"), &public[..8]);
    signing_key::ActiveModel {
        kid: ActiveValue::Set(kid),
        private_key: ActiveValue::Set(STANDARD.encode(seed)),
        public_key: ActiveValue::Set(public),
        created_at: ActiveValue::Set(now),
        retired_at: ActiveValue::Set(None),
    }
}

/// Makes sure a signing key exists (first start); returns its kid.
pub async fn ensure_signing_key(db: &impl ConnectionTrait) -> Result<String, DbErr> {
    if let Some(key) = signing_now(db, ates_core::db::now()).await? {
        return Ok(key.kid);
    }
    let model = signing_key::Entity::insert(generate(ates_core::db::now()))
        .exec_with_returning(db)
        .await?;
    tracing::info!(kid = %model.kid, "generated the first signing key");
    Ok(model.kid)
}

/// Adds a new signing key, which signs from `lead` from now on, when the
/// keys before it retire; returns the new kid.
pub async fn rotate(db: &impl ConnectionTrait, lead: Duration) -> Result<String, DbErr> {
    let now = ates_core::db::now();
    let signs_from = now + chrono::Duration::from_std(lead).unwrap_or(chrono::Duration::MAX);
    signing_key::Entity::update_many()
        .col_expr(Column::RetiredAt, Expr::value(signs_from))
        .filter(Column::RetiredAt.is_null())
        .exec(db)
        .await?;
    let model = signing_key::Entity::insert(generate(now))
        .exec_with_returning(db)
        .await?;
    Ok(model.kid)
}

/// The key that signs at `now`: the oldest one not retired by then.
async fn signing_now(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<Option<signing_key::Model>, DbErr> {
    signing_key::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(Column::RetiredAt.is_null())
                .add(Column::RetiredAt.gt(now)),
        )
        .order_by_asc(Column::CreatedAt)
        .one(db)
        .await
}

/// The key that signs now.
pub async fn active_key(db: &impl ConnectionTrait) -> anyhow::Result<ActiveKey> {
    let model = signing_now(db, ates_core::db::now())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no signing key; the service creates one at start"))?;
    let seed: [u8; 32] = STANDARD
        .decode(&model.private_key)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("signing key {} is not 32 bytes", model.kid))?;
    let der = SigningKey::from_bytes(&seed)
        .to_pkcs8_der()
        .map_err(|error| anyhow::anyhow!("cannot encode signing key: {error}"))?;
    Ok(ActiveKey {
        kid: model.kid,
        encoding_key: EncodingKey::from_ed_der(der.as_bytes()),
    })
}

/// The public keys to publish: the active ones and those retired less than
/// `grace` ago, newest first.
pub async fn jwks(db: &impl ConnectionTrait, grace: Duration) -> Result<Jwks, DbErr> {
    let cutoff =
        ates_core::db::now() - chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
    let keys = signing_key::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(Column::RetiredAt.is_null())
                .add(Column::RetiredAt.gt(cutoff)),
        )
        .order_by_desc(Column::CreatedAt)
        .all(db)
        .await?;
    Ok(Jwks {
        keys: keys
            .into_iter()
            .map(|key| Jwk::ed25519(key.kid, key.public_key))
            .collect(),
    })
}

/// auth-api verifies its own tokens from its own key table.
#[derive(Debug, Clone)]
pub struct DatabaseKeys {
    pub db: DatabaseConnection,
    pub grace: Duration,
}

impl KeySource for DatabaseKeys {
    fn fetch(&self) -> BoxFuture<'_, Result<Jwks, String>> {
        Box::pin(async move {
            jwks(&self.db, self.grace)
                .await
                .map_err(|error| error.to_string())
        })
    }
}
