//! Password hashing: argon2id with OWASP's minimum parameters (19 MiB,
//! 2 iterations, parallelism 1), run off the async runtime.

use std::cell::RefCell;
use std::sync::{Arc, LazyLock, Mutex, mpsc};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{
    Decimal, Ident, Output, ParamsString, PasswordHash, PasswordHasher, PasswordVerifier, Salt,
    SaltString,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::Rng;
use rand::distr::Alphanumeric;

/// The password rules a sign-up must meet.
pub const MIN_PASSWORD_LEN: u64 = 10;
pub const MAX_PASSWORD_LEN: u64 = 128;

/// How long a generated password is: 20 letters and digits, about 119 bits.
const GENERATED_PASSWORD_LEN: usize = 20;

/// A random password, for an admin created without one and for temporary
/// passwords an admin does not choose.
pub fn generate() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(GENERATED_PASSWORD_LEN)
        .map(char::from)
        .collect()
}

fn argon2() -> ReusedMemory {
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP parameters are valid");
    ReusedMemory {
        algorithm: Algorithm::Argon2id,
        version: Version::V0x13,
        params,
    }
}

thread_local! {
    /// This hashing thread's argon2 working memory, allocated once and
    /// reused: a fresh 19 MiB per hash made the allocator hold several
    /// copies at peak (auth-api's peak RSS varied 73-95 MiB between runs).
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Argon2 (PHC strings, the `password-hash` traits) computed in the
/// thread's reused working memory; verification comes with the traits.
struct ReusedMemory {
    algorithm: Algorithm,
    version: Version,
    params: Params,
}

impl PasswordHasher for ReusedMemory {
    type Params = Params;

    fn hash_password<'a>(
        &self,
        password: &[u8],
        salt: impl Into<Salt<'a>>,
    ) -> argon2::password_hash::Result<PasswordHash<'a>> {
        let salt = salt.into();
        let mut salt_buffer = [0u8; Salt::MAX_LENGTH];
        let salt_bytes = salt.decode_b64(&mut salt_buffer)?;
        let argon2 = Argon2::new(self.algorithm, self.version, self.params.clone());
        let output_len = self
            .params
            .output_len()
            .unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let output = MEMORY.with_borrow_mut(|memory| {
            memory.resize(self.params.block_count(), Block::default());
            Output::init_with(output_len, |out| {
                Ok(argon2.hash_password_into_with_memory(
                    password,
                    salt_bytes,
                    out,
                    &mut memory[..],
                )?)
            })
        })?;
        Ok(PasswordHash {
            algorithm: self.algorithm.ident(),
            version: Some(self.version.into()),
            params: ParamsString::try_from(&self.params)?,
            salt: Some(salt),
            hash: Some(output),
        })
    }

    fn hash_password_customized<'a>(
        &self,
        password: &[u8],
        algorithm: Option<Ident<'a>>,
        version: Option<Decimal>,
        params: Params,
        salt: impl Into<Salt<'a>>,
    ) -> argon2::password_hash::Result<PasswordHash<'a>> {
        ReusedMemory {
            algorithm: algorithm
                .map(Algorithm::try_from)
                .transpose()?
                .unwrap_or_default(),
            version: version
                .map(Version::try_from)
                .transpose()?
                .unwrap_or_default(),
            params,
        }
        .hash_password(password, salt)
    }
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
/// memory (each thread keeps its 19 MiB of working memory; on the blocking
/// pool every new thread would keep its own).
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

    #[test]
    fn hashes_agree_with_the_argon2_crate_both_ways() {
        let standard = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon2().params);
        let salt = SaltString::generate(&mut OsRng);
        let ours = argon2().hash_password(b"correct horse", &salt).unwrap();
        let theirs = standard.hash_password(b"correct horse", &salt).unwrap();
        assert_eq!(ours.to_string(), theirs.to_string());
        // A hash stored by the crate's own code (earlier releases) verifies.
        let stored = PasswordHash::new(&theirs.to_string()).unwrap().to_string();
        let parsed = PasswordHash::new(&stored).unwrap();
        assert!(argon2().verify_password(b"correct horse", &parsed).is_ok());
        assert!(argon2().verify_password(b"wrong horse", &parsed).is_err());
        // Other parameters (a smaller, older hash) verify too.
        let small = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(4096, 3, 1, None).unwrap(),
        )
        .hash_password(b"correct horse", &salt)
        .unwrap()
        .to_string();
        let parsed = PasswordHash::new(&small).unwrap();
        assert!(argon2().verify_password(b"correct horse", &parsed).is_ok());
    }

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
