//! The operator's commands of the service binaries.
//!
//! - `dead-letters list | show ID | replay (ID | --all) | discard ID`
//!   (every consuming service), with readable output or `--json`. They
//!   need only the service's `NATS_URL` (with its credentials) and
//!   `DATABASE_URL`, and work while the service runs: a replay applies the
//!   letter through the service's own consumer checks and handler, in its
//!   database, and the running service's relay publishes what it wrote.
//! - `backup FILE` (online: SQLite's `VACUUM INTO`, PostgreSQL's
//!   `pg_dump`) and `restore FILE` (the service stopped: the file copied
//!   back, or `pg_restore`), after which the service's durable consumers
//!   start again from the beginning of their streams, so it catches up
//!   with every event after the backup (each applied once, by its id).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
use serde::Serialize;
use serde_json::{Value, json};

use crate::bus::consumer::{self, EventHandler, Replayed};
use crate::bus::dead_letter::{self, Settlement, StoredDeadLetter};
use crate::bus::{EventBus, identity};
use crate::config::ServiceSettings;

/// How long the commands wait for the broker before saying it is missing.
const BROKER_WAIT: Duration = Duration::from_secs(5);

/// `<service> dead-letters ...`
#[derive(Debug, Clone, clap::Subcommand)]
pub enum DeadLetterCommand {
    /// The dead letters waiting: sequence, event, deliveries and reason.
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One dead letter whole: its reason, headers and event.
    Show {
        /// Its sequence in the dead-letter stream (the `list` column).
        id: u64,
        #[arg(long)]
        json: bool,
    },
    /// Hands a dead letter (or every waiting one) to this service's consumer
    /// again, through the same checks as a live event; applied once, or
    /// refused again (then it keeps waiting and the command fails).
    Replay {
        #[arg(required_unless_present = "all")]
        id: Option<u64>,
        /// Every waiting dead letter, oldest first.
        #[arg(long, conflicts_with = "id")]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Puts a dead letter aside without applying it (it no longer waits).
    Discard {
        id: u64,
        /// Why, kept with it.
        #[arg(long, default_value = "discarded by an operator")]
        reason: String,
        #[arg(long)]
        json: bool,
    },
}

/// A dead letter as the commands print it.
#[derive(Debug, Serialize)]
struct Letter {
    sequence: u64,
    consumer: String,
    subject: String,
    event_name: Option<String>,
    event_id: Option<String>,
    delivered: u32,
    reason: String,
}

impl Letter {
    fn of(letter: &StoredDeadLetter) -> Self {
        let event: Option<Value> = serde_json::from_slice(&letter.payload).ok();
        let field = |name: &str| {
            event
                .as_ref()
                .and_then(|event| event.get(name))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        Self {
            sequence: letter.sequence,
            consumer: letter.consumer.clone(),
            subject: letter.original_subject.clone(),
            event_name: field("event_name"),
            event_id: field("event_id"),
            delivered: letter.delivered,
            reason: letter.reason.clone(),
        }
    }
}

/// What one replay did, as printed.
#[derive(Debug, Serialize)]
struct ReplayResult {
    sequence: u64,
    outcome: &'static str,
    detail: String,
}

/// Runs a `dead-letters` command for the consumer `handler` of the service
/// configured by `settings`, printing to standard output. Fails (a
/// non-zero exit) when the broker or database cannot be reached, when the
/// letter does not exist, and when a replayed letter is refused again.
pub async fn dead_letters<H: EventHandler>(
    settings: &ServiceSettings,
    handler: H,
    command: DeadLetterCommand,
) -> anyhow::Result<()> {
    let handler = Arc::new(handler);
    let service = &settings.bus.service;
    anyhow::ensure!(
        !handler.subscriptions().is_empty(),
        "{service} consumes no events: it has no dead letters"
    );
    let consumer = settings.consumer_name.as_str();
    let db = open_database(&settings.database_url).await?;
    let bus = connect_broker(settings).await?;
    let waiting = within_broker_wait(settings, dead_letter::waiting(&bus, &db, consumer))
        .await?
        .context("cannot read the dead letters")?;
    match command {
        DeadLetterCommand::List { json } => {
            let letters: Vec<Letter> = waiting.iter().map(Letter::of).collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&letters)?);
            } else {
                print_table(consumer, &letters);
            }
            Ok(())
        }
        DeadLetterCommand::Show { id, json } => {
            let letter = find(&waiting, id, consumer)?;
            print_letter(letter, json)
        }
        DeadLetterCommand::Replay { id, all, json } => {
            let chosen: Vec<&StoredDeadLetter> = if all {
                waiting.iter().collect()
            } else {
                vec![find(&waiting, id.unwrap_or_default(), consumer)?]
            };
            let mut results = Vec::with_capacity(chosen.len());
            for letter in chosen {
                results.push(replay_one(&bus, &db, handler.clone(), consumer, letter).await?);
            }
            let refused = results
                .iter()
                .filter(|result| result.outcome == "refused")
                .count();
            if json {
                println!("{}", serde_json::to_string_pretty(&results)?);
            } else {
                for result in &results {
                    println!("{} {}: {}", result.sequence, result.outcome, result.detail);
                }
                println!(
                    "{} replayed, {refused} refused again",
                    results.len() - refused
                );
            }
            anyhow::ensure!(
                refused == 0,
                "{refused} dead letter(s) refused again: they keep waiting"
            );
            Ok(())
        }
        DeadLetterCommand::Discard { id, reason, json } => {
            let letter = find(&waiting, id, consumer)?;
            dead_letter::settle(
                &db,
                consumer,
                letter.sequence,
                Settlement::Discarded,
                &reason,
            )
            .await?;
            let result = ReplayResult {
                sequence: letter.sequence,
                outcome: "discarded",
                detail: reason,
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&result)?);
            } else {
                println!("{} discarded: {}", result.sequence, result.detail);
            }
            Ok(())
        }
    }
}

fn find<'a>(
    waiting: &'a [StoredDeadLetter],
    id: u64,
    consumer: &str,
) -> anyhow::Result<&'a StoredDeadLetter> {
    waiting
        .iter()
        .find(|letter| letter.sequence == id)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no dead letter {id} waits for {consumer} (`dead-letters list` shows those that do)"
            )
        })
}

/// Replays one letter and records it as settled unless it is refused.
async fn replay_one<H: EventHandler>(
    bus: &EventBus,
    db: &DatabaseConnection,
    handler: Arc<H>,
    consumer: &str,
    letter: &StoredDeadLetter,
) -> anyhow::Result<ReplayResult> {
    let (outcome, detail) = match consumer::replay(bus, db, handler, consumer, letter).await {
        Replayed::Applied => ("applied", "applied now".to_owned()),
        Replayed::AlreadyApplied => ("applied", "had already been applied".to_owned()),
        Replayed::Refused(reason) => ("refused", reason),
    };
    if outcome == "applied" {
        dead_letter::settle(db, consumer, letter.sequence, Settlement::Replayed, &detail).await?;
    }
    Ok(ReplayResult {
        sequence: letter.sequence,
        outcome,
        detail,
    })
}

fn print_table(consumer: &str, letters: &[Letter]) {
    if letters.is_empty() {
        println!("no dead letter waits for {consumer}");
        return;
    }
    println!(
        "{:>8}  {:>9}  {:<36}  {:<36}  reason",
        "sequence", "delivered", "subject", "event id"
    );
    for letter in letters {
        println!(
            "{:>8}  {:>9}  {:<36}  {:<36}  {}",
            letter.sequence,
            letter.delivered,
            letter.subject,
            letter.event_id.as_deref().unwrap_or("-"),
            letter.reason
        );
    }
    println!("{} dead letter(s) wait for {consumer}", letters.len());
}

fn print_letter(letter: &StoredDeadLetter, json: bool) -> anyhow::Result<()> {
    let headers: serde_json::Map<String, Value> = letter
        .headers
        .iter()
        .map(|(name, values)| {
            let values: Vec<&str> = values.iter().map(|value| value.as_str()).collect();
            (name.to_string(), json!(values.join(", ")))
        })
        .collect();
    let event = serde_json::from_slice::<Value>(&letter.payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&letter.payload).into_owned()));
    if json {
        let mut whole = serde_json::to_value(Letter::of(letter))?;
        whole["headers"] = Value::Object(headers);
        whole["event"] = event;
        println!("{}", serde_json::to_string_pretty(&whole)?);
    } else {
        let summary = Letter::of(letter);
        println!("sequence:  {}", summary.sequence);
        println!("consumer:  {}", summary.consumer);
        println!("subject:   {}", summary.subject);
        println!("delivered: {}", summary.delivered);
        println!("reason:    {}", summary.reason);
        println!("headers:");
        for (name, value) in &headers {
            println!("  {name}: {}", value.as_str().unwrap_or_default());
        }
        println!("event:\n{}", serde_json::to_string_pretty(&event)?);
    }
    Ok(())
}

/// Writes a consistent copy of the service's database to `file`, which
/// must not exist, while the service runs.
pub async fn backup(settings: &ServiceSettings, file: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        !file.exists(),
        "{} exists: a backup never overwrites a file",
        file.display()
    );
    let url = &settings.database_url;
    if DbBackend::Sqlite.is_prefix_of(url) {
        let database = sqlite_file(url)?;
        anyhow::ensure!(
            database.is_file(),
            "no database at {}: nothing to back up",
            database.display()
        );
        let db = open_database(url).await?;
        let target = file
            .to_str()
            .ok_or_else(|| anyhow::anyhow!("the backup file's name is not UTF-8"))?;
        db.execute_unprepared(&format!("VACUUM INTO '{}'", target.replace('\'', "''")))
            .await
            .context("SQLite could not write the backup")?;
    } else {
        run_tool(
            "pg_dump",
            &[
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                &format!("--file={}", file.display()),
                &format!("--dbname={url}"),
            ],
        )
        .await?;
    }
    println!(
        "backed up {} to {}",
        identity::redacted_url(url),
        file.display()
    );
    Ok(())
}

/// Replaces the service's database with the backup in `file` (the service
/// and every other instance of it stopped), then deletes its durable
/// consumers so that its next start reads its streams from the beginning
/// and applies what came after the backup.
pub async fn restore<H: EventHandler>(
    settings: &ServiceSettings,
    events: &H,
    file: &Path,
) -> anyhow::Result<()> {
    anyhow::ensure!(file.is_file(), "no backup at {}", file.display());
    let url = &settings.database_url;
    if DbBackend::Sqlite.is_prefix_of(url) {
        restore_sqlite(url, file)?;
    } else {
        run_tool(
            "pg_restore",
            &[
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                &format!("--dbname={url}"),
                &file.display().to_string(),
            ],
        )
        .await?;
    }
    let domains = consumer::domains_of(&events.subscriptions());
    if domains.is_empty() {
        println!(
            "restored {} from {}",
            identity::redacted_url(url),
            file.display()
        );
        return Ok(());
    }
    let bus = connect_broker(settings).await.map_err(|error| {
        anyhow::anyhow!(
            "restored, but {error:#}: delete the durable consumers named {} before starting the service",
            settings.consumer_name
        )
    })?;
    tokio::time::timeout(
        BROKER_WAIT,
        consumer::delete_durable(&bus, &settings.consumer_name, &domains),
    )
    .await
    .map_err(|_| {
        anyhow::anyhow!(
            "restored, but NATS at {} did not answer within {} s: delete the durable consumers named {} before starting the service",
            identity::redacted_url(&settings.bus.nats_url),
            BROKER_WAIT.as_secs(),
            settings.consumer_name
        )
    })?
    .map_err(|error| anyhow::anyhow!("cannot delete the durable consumers: {error}"))?;
    println!(
        "restored {} from {}; at its next start the service reads its streams from the beginning",
        identity::redacted_url(url),
        file.display()
    );
    Ok(())
}

/// Rebuilds what the service builds from other services' events (see
/// [`EventHandler::rebuilt_domains`]): refuses while an instance of it
/// consumes those streams; otherwise deletes its durable consumers on
/// them, empties that state and forgets their processed events (in one
/// transaction), then replays the streams from the beginning through the
/// service's own consumer, until nothing waits. Returns, per domain, the
/// deliveries it replayed.
pub async fn rebuild<H: EventHandler>(
    settings: &ServiceSettings,
    handler: H,
) -> anyhow::Result<Vec<(String, u64)>> {
    let service = &settings.bus.service;
    let domains = handler.rebuilt_domains();
    anyhow::ensure!(
        !domains.is_empty(),
        "{service} builds nothing from other services' events: nothing to rebuild"
    );
    let consumer = settings.consumer_name.as_str();
    let db = open_database(&settings.database_url).await?;
    let bus = connect_broker(settings).await?;
    for domain in &domains {
        let waiting = within_broker_wait(settings, pull_requests_waiting(&bus, domain, consumer))
            .await?
            .map_err(|error| {
                anyhow::anyhow!(
                    "cannot read the consumer {consumer} on the {domain} stream: {error}"
                )
            })?;
        anyhow::ensure!(
            waiting == 0,
            "an instance of {service} is consuming the {domain} stream as {consumer} \
             ({waiting} pull request(s) waiting): stop every instance, then rebuild"
        );
    }
    consumer::delete_durable(&bus, consumer, &domains)
        .await
        .map_err(|error| anyhow::anyhow!("cannot delete the durable consumers: {error}"))?;
    let txn = crate::db::begin_write(&db).await?;
    handler.forget_rebuilt(&txn).await?;
    consumer::forget_processed(&*txn, consumer, &domains).await?;
    txn.commit().await?;
    let replayed = consumer::catch_up(&bus, &db, Arc::new(handler), &settings.consumer(), &domains)
        .await
        .map_err(|error| {
            anyhow::anyhow!("the replay stopped ({error}); run rebuild again, or start the service")
        })?;
    Ok(replayed)
}

/// How many pull requests wait on the durable consumer `consumer` of
/// `domain`'s stream: more than none while an instance consumes it.
async fn pull_requests_waiting(
    bus: &EventBus,
    domain: &str,
    consumer: &str,
) -> Result<usize, async_nats::Error> {
    use async_nats::jetstream::context::ConsumerInfoErrorKind;
    let Some(stream) = bus.existing_stream(domain).await? else {
        return Ok(0);
    };
    match stream.consumer_info(consumer).await {
        Ok(info) => Ok(info.num_waiting),
        Err(error) if error.kind() == ConsumerInfoErrorKind::NotFound => Ok(0),
        Err(error) => Err(error.into()),
    }
}

/// The service's bus, once connected: a clear error when the broker does
/// not accept the connection within [`BROKER_WAIT`] (before any request
/// of the command times out on its own).
async fn connect_broker(settings: &ServiceSettings) -> anyhow::Result<EventBus> {
    let bus = EventBus::connect(&settings.bus)
        .await
        .context("cannot set up the NATS connection")?;
    within_broker_wait(settings, async {
        while !bus.is_connected() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await?;
    Ok(bus)
}

/// `work` against the broker, or a clear error when the broker does not
/// answer within [`BROKER_WAIT`].
async fn within_broker_wait<T>(
    settings: &ServiceSettings,
    work: impl Future<Output = T>,
) -> anyhow::Result<T> {
    tokio::time::timeout(BROKER_WAIT, work).await.map_err(|_| {
        anyhow::anyhow!(
            "cannot reach NATS at {} within {} s (is nats-server running, and are NATS_URL and the credentials right?)",
            identity::redacted_url(&settings.bus.nats_url),
            BROKER_WAIT.as_secs()
        )
    })
}

async fn open_database(url: &str) -> anyhow::Result<DatabaseConnection> {
    crate::db::connect(url, 2).await.with_context(|| {
        format!(
            "cannot open the database at {}",
            identity::redacted_url(url)
        )
    })
}

/// Puts the backup in place of the SQLite file of `url`: copied next to it,
/// then renamed over it, its `-wal` and `-shm` files removed.
fn restore_sqlite(url: &str, backup: &Path) -> anyhow::Result<()> {
    let target = sqlite_file(url)?;
    let mut staged = target.clone().into_os_string();
    staged.push(".restoring");
    let staged = std::path::PathBuf::from(staged);
    std::fs::copy(backup, &staged)
        .with_context(|| format!("cannot copy the backup next to {}", target.display()))?;
    for suffix in ["-wal", "-shm"] {
        let mut side = target.clone().into_os_string();
        side.push(suffix);
        match std::fs::remove_file(&side) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(error).context("cannot remove the old write-ahead log"),
        }
    }
    std::fs::rename(&staged, &target)
        .with_context(|| format!("cannot put the backup in place of {}", target.display()))?;
    Ok(())
}

/// The file of a SQLite `url`.
fn sqlite_file(url: &str) -> anyhow::Result<std::path::PathBuf> {
    use std::str::FromStr as _;
    let options = sea_orm::sqlx::sqlite::SqliteConnectOptions::from_str(url)
        .with_context(|| format!("DATABASE_URL {url} is not a SQLite URL"))?;
    Ok(options.get_filename().to_path_buf())
}

/// Runs a PostgreSQL client tool, failing with its error output.
async fn run_tool(tool: &str, args: &[&str]) -> anyhow::Result<()> {
    let output = tokio::process::Command::new(tool)
        .args(args)
        .output()
        .await
        .with_context(|| format!("cannot run {tool} (apt-get install postgresql-client)"))?;
    anyhow::ensure!(
        output.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}
