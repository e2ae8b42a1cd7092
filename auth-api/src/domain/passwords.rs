//! Password hashing: argon2id with OWASP's minimum parameters (19 MiB,
//! 2 iterations, parallelism 1), run off the async runtime on a bounded
//! pool: a full queue refuses at once instead of making everyone wait.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard, OnceLock};

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

/// How the hashing pool is sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingSettings {
    /// `PASSWORD_HASH_THREADS` (default: one per core): threads hashing at
    /// once, each with its 19 MiB of working memory.
    pub threads: usize,
    /// `PASSWORD_HASH_QUEUE` (default 16): password checks that may wait
    /// for a thread; one more is refused at once with
    /// [`HashingError::Busy`]. At about 20 ms a hash the last in the queue
    /// waits `queue / threads` hashes: 0.16 s with the default on 2 cores,
    /// under half a second even when other work slows hashing threefold.
    pub queue: usize,
}

impl Default for HashingSettings {
    fn default() -> Self {
        Self {
            threads: std::thread::available_parallelism().map_or(2, usize::from),
            queue: 16,
        }
    }
}

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum HashingError {
    /// The queue is full: the caller should come back in a second rather
    /// than wait behind a storm of hashes.
    #[error("too many password checks are waiting; try again in a second")]
    Busy,
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

type Job = Box<dyn FnOnce() + Send>;

/// Which queue a password check waits in. A storm of guesses fills the
/// `Other` queue; a client logging in to an account it has logged in to
/// before, from the same address, waits in `Returning`, which the threads
/// serve first, so the storm cannot crowd it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Returning,
    Other,
}

/// The two queues, each bounded by `PASSWORD_HASH_QUEUE`.
#[derive(Default)]
struct Queues {
    returning: VecDeque<Job>,
    other: VecDeque<Job>,
}

impl Queues {
    fn lane(&mut self, lane: Lane) -> &mut VecDeque<Job> {
        match lane {
            Lane::Returning => &mut self.returning,
            Lane::Other => &mut self.other,
        }
    }
}

/// Argon2 work runs on a few dedicated threads behind bounded queues:
/// that bounds the CPU it takes from request handling, the memory (each
/// thread keeps its 19 MiB; on the blocking pool every new thread would
/// keep its own) and the time a check can wait, since a request finding
/// its queue full is refused instead of queued. One pool per process.
struct HashingPool {
    queues: Arc<(Mutex<Queues>, Condvar)>,
    settings: HashingSettings,
    /// Checks accepted and not finished (queued or hashing).
    in_flight: AtomicUsize,
    #[cfg(feature = "testing")]
    hold: (Mutex<bool>, Condvar),
}

static POOL: OnceLock<HashingPool> = OnceLock::new();

fn lock(queues: &Mutex<Queues>) -> MutexGuard<'_, Queues> {
    queues
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn start(settings: HashingSettings) -> HashingPool {
    let settings = HashingSettings {
        threads: settings.threads.max(1),
        queue: settings.queue.max(1),
    };
    let queues: Arc<(Mutex<Queues>, Condvar)> = Arc::default();
    for index in 0..settings.threads {
        let queues = queues.clone();
        std::thread::Builder::new()
            .name(format!("argon2-{index}"))
            .spawn(move || {
                let (waiting, ready) = &*queues;
                loop {
                    let job = {
                        let mut waiting = lock(waiting);
                        loop {
                            if let Some(job) = waiting.returning.pop_front() {
                                break job;
                            }
                            if let Some(job) = waiting.other.pop_front() {
                                break job;
                            }
                            waiting = ready
                                .wait(waiting)
                                .unwrap_or_else(std::sync::PoisonError::into_inner);
                        }
                    };
                    #[cfg(feature = "testing")]
                    wait_while_held();
                    job();
                }
            })
            .expect("argon2 worker threads start");
    }
    HashingPool {
        queues,
        settings,
        in_flight: AtomicUsize::new(0),
        #[cfg(feature = "testing")]
        hold: (Mutex::new(false), Condvar::new()),
    }
}

fn pool() -> &'static HashingPool {
    POOL.get_or_init(|| start(HashingSettings::default()))
}

/// Sizes this process's hashing pool; called once at start, before any
/// hashing. The first size holds for the life of the process (several
/// services started in one test process share one pool): a later, other
/// size is logged and ignored. Returns the size in force.
pub fn configure(settings: HashingSettings) -> HashingSettings {
    let pool = POOL.get_or_init(|| start(settings));
    if pool.settings != settings {
        tracing::warn!(requested = ?settings, in_force = ?pool.settings,
            "the hashing pool of this process is already sized");
    }
    pool.settings
}

/// Whether `lane`'s queue is full right now: a caller can refuse before
/// doing any other work. A `false` is no promise; the submission itself
/// still refuses.
pub fn is_full(lane: Lane) -> bool {
    let pool = pool();
    lock(&pool.queues.0).lane(lane).len() >= pool.settings.queue
}

/// Runs `work` on the hashing pool in `lane`, or refuses it at once when
/// that lane's queue is full.
async fn on_pool<T: Send + 'static>(
    lane: Lane,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, HashingError> {
    let pool = pool();
    let (done, result) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        // The receiver only goes away if the request was dropped.
        let _ = done.send(work());
        pool.in_flight.fetch_sub(1, Ordering::SeqCst);
    });
    {
        let mut queues = lock(&pool.queues.0);
        let queue = queues.lane(lane);
        if queue.len() >= pool.settings.queue {
            return Err(HashingError::Busy);
        }
        pool.in_flight.fetch_add(1, Ordering::SeqCst);
        queue.push_back(job);
    }
    pool.queues.1.notify_one();
    result
        .await
        .map_err(|_| anyhow::anyhow!("a hashing thread dropped its job").into())
}

/// Hashes a new password (PHC string: algorithm, parameters, salt, hash).
pub async fn hash(password: String) -> Result<String, HashingError> {
    on_pool(Lane::Other, move || hash_now(&password))
        .await?
        .map_err(|error| anyhow::anyhow!("cannot hash password: {error}").into())
}

/// Whether `password` matches `stored`; `None` checks against a decoy and
/// is always false, in the same time.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, HashingError> {
    verify_in(Lane::Other, password, stored).await
}

/// [`verify`], waiting in `lane`.
pub async fn verify_in(
    lane: Lane,
    password: String,
    stored: Option<String>,
) -> Result<bool, HashingError> {
    Ok(on_pool(lane, move || {
        let is_decoy = stored.is_none();
        let stored = stored.unwrap_or_else(|| DECOY_HASH.clone());
        let parsed = PasswordHash::new(&stored)
            .map_err(|error| anyhow::anyhow!("stored password hash is unreadable: {error}"))?;
        let matches = argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        anyhow::Ok(matches && !is_decoy)
    })
    .await??)
}

/// Test hooks (feature `testing`): hold the hashing threads so a test can
/// fill the queue deterministically, and see how many checks are in the
/// pool. Held threads take a job off the queue and wait before hashing it.
#[cfg(feature = "testing")]
pub mod testing {
    use super::*;

    /// Keeps every hashing thread waiting until dropped.
    #[derive(Debug)]
    pub struct Hold;

    impl Drop for Hold {
        fn drop(&mut self) {
            let (held, resumed) = &pool().hold;
            *held
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = false;
            resumed.notify_all();
        }
    }

    /// Holds the hashing threads (see [`Hold`]).
    pub fn hold() -> Hold {
        let (held, _) = &pool().hold;
        *held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        Hold
    }

    /// Checks accepted by the pool and not finished.
    pub fn in_flight() -> usize {
        pool().in_flight.load(Ordering::SeqCst)
    }

    /// The pool's size in force.
    pub fn settings() -> HashingSettings {
        pool().settings
    }
}

#[cfg(feature = "testing")]
fn wait_while_held() {
    let (held, resumed) = &pool().hold;
    let mut is_held = held
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    while *is_held {
        is_held = resumed
            .wait(is_held)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
    }
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
