//! Password hashing: argon2id with OWASP's minimum parameters (19 MiB,
//! 2 iterations, parallelism 1), run off the async runtime.

use std::sync::{Arc, LazyLock, Mutex, mpsc};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// The password rules a sign-up must meet.
pub const MIN_PASSWORD_LEN: u64 = 10;
pub const MAX_PASSWORD_LEN: u64 = 128;

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A hash to verify against when the account does not exist, so an unknown
/// email costs as much time as a wrong password.
static DECOY_HASH: LazyLock<String> = LazyLock::new(|| {
    hash_now("decoy password for unknown accounts").expect("hashing a constant works")
});

fn hash_now(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Argon2 work runs on a few dedicated threads, as many as there are
/// cores: that bounds both the CPU it takes from request handling and the
/// memory (each hash holds 19 MiB, and the allocator keeps a thread's
/// arena; on the blocking pool every new thread would keep its own).
struct HashingPool {
    jobs: Mutex<mpsc::Sender<Box<dyn FnOnce() + Send>>>,
}

static POOL: LazyLock<HashingPool> = LazyLock::new(|| {
    let (sender, receiver) = mpsc::channel::<Box<dyn FnOnce() + Send>>();
    let receiver = Arc::new(Mutex::new(receiver));
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    for index in 0..workers {
        let receiver = receiver.clone();
        std::thread::Builder::new()
            .name(format!("argon2-{index}"))
            .spawn(move || {
                loop {
                    let job = match receiver.lock() {
                        Ok(receiver) => receiver.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            })
            .expect("argon2 worker threads start");
    }
    HashingPool {
        jobs: Mutex::new(sender),
    }
});

/// Runs `work` on the hashing pool.
async fn on_pool<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    let job: Box<dyn FnOnce() + Send> = Box::new(move || {
        // The receiver only goes away if the request was dropped.
        let _ = done.send(work());
    });
    POOL.jobs
        .lock()
        .map_err(|_| anyhow::anyhow!("the hashing pool is poisoned"))?
        .send(job)
        .map_err(|_| anyhow::anyhow!("the hashing pool has stopped"))?;
    Ok(result.await?)
}

/// Hashes a new password (PHC string: algorithm, parameters, salt, hash).
pub async fn hash(password: String) -> anyhow::Result<String> {
    on_pool(move || hash_now(&password))
        .await?
        .map_err(|error| anyhow::anyhow!("cannot hash password: {error}"))
}

/// Whether `password` matches `stored`; `None` checks against a decoy and
/// is always false, in the same time.
pub async fn verify(password: String, stored: Option<String>) -> anyhow::Result<bool> {
    on_pool(move || {
        let is_decoy = stored.is_none();
        let stored = stored.unwrap_or_else(|| DECOY_HASH.clone());
        let parsed = PasswordHash::new(&stored)
            .map_err(|error| anyhow::anyhow!("stored password hash is unreadable: {error}"))?;
        let matches = argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(matches && !is_decoy)
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let stored = hash("correct horse battery".into()).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            verify("correct horse battery".into(), Some(stored.clone()))
                .await
                .unwrap()
        );
        assert!(
            !verify("wrong horse battery".into(), Some(stored))
                .await
                .unwrap()
        );
        assert!(
            !verify("decoy password for unknown accounts".into(), None)
                .await
                .unwrap()
        );
    }
}
