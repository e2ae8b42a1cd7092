//! The `Idempotency-Key` a client sends, and what is derived from it.
//!
//! The key itself is never stored. The table holds its SHA-256 (to find
//! the row), a keyed hash of the request (HMAC-SHA256 under a secret
//! derived from the key and the caller) and the answer sealed with the
//! same secret (ChaCha20-Poly1305). So the table alone tells nothing a
//! request or an answer carried: not a password sent to sign up or to
//! change it (an unkeyed hash of such a body would be an unsalted password
//! hash), not a temporary password or a refresh token in an answer.

use axum::http::HeaderMap;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac};

use crate::http::ApiError;

/// The header (draft-ietf-httpapi-idempotency-key-header).
pub const HEADER: &str = "idempotency-key";

/// The longest key accepted, in characters.
pub const MAX_LEN: usize = 255;

/// A well-formed key: 1 to 255 visible ASCII characters (`!` to `~`).
#[derive(Clone)]
pub struct IdempotencyKey(String);

impl std::fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A key opens its stored answer: never in logs.
        f.write_str("IdempotencyKey(..)")
    }
}

impl IdempotencyKey {
    /// The request's key: `None` without the header, a 400 for a header
    /// sent twice or a value that is empty, longer than 255 characters or
    /// not visible ASCII. The value is opaque: the draft's quoted form
    /// (`"8e03978e-..."`) works as it is, the quotes being part of the key.
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, ApiError> {
        let mut values = headers.get_all(HEADER).iter();
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(malformed("send one Idempotency-Key header, not several"));
        }
        let bytes = value.as_bytes();
        if bytes.is_empty() {
            return Err(malformed("the Idempotency-Key header is empty"));
        }
        if bytes.len() > MAX_LEN {
            return Err(malformed(
                "the Idempotency-Key header is longer than 255 characters",
            ));
        }
        if !bytes.iter().all(|byte| (b'!'..=b'~').contains(byte)) {
            return Err(malformed(
                "the Idempotency-Key header may hold only visible ASCII characters (no spaces)",
            ));
        }
        Ok(Some(Self(String::from_utf8_lossy(bytes).into_owned())))
    }

    /// What the table is looked up by: the key's SHA-256, hex.
    pub fn hash(&self) -> String {
        hex(digest::digest(
            &digest::SHA256,
            &[b"ates-idempotency-key\0", self.0.as_bytes()].concat(),
        )
        .as_ref())
    }

    /// The secret of this key for `scope`: it keys the request hash and
    /// seals the answer; it is never stored.
    pub fn secret(&self, scope: &str) -> Secret {
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.0.as_bytes());
        let tag = hmac::sign(
            &key,
            &[b"ates-idempotency-secret\0", scope.as_bytes()].concat(),
        );
        let mut secret = [0u8; 32];
        secret.copy_from_slice(tag.as_ref());
        Secret(secret)
    }
}

fn malformed(detail: &str) -> ApiError {
    ApiError::BadRequest(format!(
        "{detail}; an Idempotency-Key is 1 to 255 visible ASCII characters, such as a UUID"
    ))
}

/// A key's secret for one caller.
pub struct Secret([u8; 32]);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// An answer could not be sealed (no randomness), or a stored one opened
/// (it was not sealed with this key's secret, or it was altered).
#[derive(Debug, thiserror::Error)]
#[error("the answer cannot be sealed or opened")]
pub struct Unsealable;

impl Secret {
    /// The request's fingerprint: HMAC-SHA256 over method, path and body.
    pub fn request_hash(&self, method: &str, path: &str, body: &[u8]) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.0);
        let mut context = hmac::Context::with_key(&key);
        for part in [method.as_bytes(), b"\0", path.as_bytes(), b"\0", body] {
            context.update(part);
        }
        hex(context.sign().as_ref())
    }

    fn aead(&self) -> Result<LessSafeKey, Unsealable> {
        // 32 bytes is ChaCha20-Poly1305's key length: this does not fail.
        let key = UnboundKey::new(&CHACHA20_POLY1305, &self.0).map_err(|_| Unsealable)?;
        Ok(LessSafeKey::new(key))
    }

    /// `plain` encrypted and authenticated, bound to `context` (the row it
    /// belongs to): a fresh random nonce, then the ciphertext and tag.
    /// Fails only when the system's random source does.
    pub fn seal(&self, context: &str, plain: &[u8]) -> Result<Vec<u8>, Unsealable> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| Unsealable)?;
        let mut sealed = plain.to_vec();
        self.aead()?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| Unsealable)?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    /// What [`Self::seal`] sealed for `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, Unsealable> {
        if sealed.len() < NONCE_LEN {
            return Err(Unsealable);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Unsealable)?;
        let mut buffer = ciphertext.to_vec();
        let plain = self
            .aead()?
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .map_err(|_| Unsealable)?;
        Ok(plain.to_vec())
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn key_of(value: &[u8]) -> Result<Option<IdempotencyKey>, ApiError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            HEADER,
            HeaderValue::from_bytes(value).expect("a header value"),
        );
        IdempotencyKey::from_headers(&headers)
    }

    #[test]
    fn well_formed_keys_are_taken_and_malformed_ones_refused() {
        assert!(
            IdempotencyKey::from_headers(&HeaderMap::new())
                .expect("no header")
                .is_none()
        );
        for good in [
            b"8e03978e-40d5-43e8-bc93-6894a57f9324".as_slice(),
            b"\"8e03978e-40d5-43e8-bc93-6894a57f9324\"",
            b"!",
            &[b'~'; MAX_LEN],
        ] {
            assert!(key_of(good).expect("well formed").is_some());
        }
        for bad in [
            b"".as_slice(),
            &[b'a'; MAX_LEN + 1],
            b"two words",
            b"tab\there",
            "caf\u{e9}".as_bytes(),
        ] {
            let error = key_of(bad).expect_err("malformed");
            assert_eq!(error.status(), axum::http::StatusCode::BAD_REQUEST);
            assert!(error.to_string().contains("Idempotency-Key"), "{error}");
        }
        let mut twice = HeaderMap::new();
        twice.append(HEADER, HeaderValue::from_static("a"));
        twice.append(HEADER, HeaderValue::from_static("b"));
        assert!(IdempotencyKey::from_headers(&twice).is_err());
    }

    #[test]
    fn the_secret_depends_on_key_and_caller_and_opens_only_its_own_answers() {
        let key = key_of(b"k-1").expect("ok").expect("some");
        let other = key_of(b"k-2").expect("ok").expect("some");
        let mine = key.secret("account:a");
        let sealed = mine.seal("row", b"{\"id\":1}").expect("sealed");
        assert_eq!(mine.open("row", &sealed).expect("opens"), b"{\"id\":1}");
        assert!(
            mine.open("another row", &sealed).is_err(),
            "bound to its row"
        );
        assert!(
            key.secret("account:b").open("row", &sealed).is_err(),
            "another caller"
        );
        assert!(
            other.secret("account:a").open("row", &sealed).is_err(),
            "another key"
        );
        assert_ne!(
            mine.seal("row", b"x").expect("sealed"),
            mine.seal("row", b"x").expect("sealed"),
            "a fresh nonce each time"
        );
        assert_ne!(
            mine.request_hash("POST", "/v1/tasks", b"{}"),
            key.secret("account:b")
                .request_hash("POST", "/v1/tasks", b"{}")
        );
        assert_ne!(
            mine.request_hash("POST", "/v1/tasks", b"{}"),
            mine.request_hash("POST", "/v1/tasks", b"{ }")
        );
        assert_eq!(key.hash().len(), 64);
        assert_ne!(key.hash(), other.hash());
    }
}
