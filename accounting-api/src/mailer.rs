//! Payout emails. A close writes one email row per payout in the payout's
//! transaction; once the close has finished (its cycle is `closed`) the
//! mailer sends them at a steady rate (`MAIL_PER_SECOND`), each over SMTP
//! (`SMTP_URL`, with lettre) marked `sent`, or, without SMTP, logged and
//! marked `stored` (the text stays in the database either way). A failed send is retried
//! with back-off; a sent email is never picked again, and its Message-ID
//! is derived from the payout, so even the one window where a crash could
//! repeat it (after the server accepted it, before the row was marked)
//! yields a duplicate a mail system recognises.
//!
//! Nothing from an account reaches the SMTP conversation unchecked: the
//! recipient must parse as a bare address (lettre's `Address`: no display
//! name, no CR/LF, nothing after it), and the name and subject must hold no
//! control characters. An email that fails is refused before any
//! connection (logged, kept pending with the reason, tried again later in
//! case the account's details are corrected), never sent.

use std::sync::Arc;
use std::time::Duration;

use std::collections::HashMap;

use ates_core::account_replica::{ReplicatedAccount, entity as account};
use ates_core::metrics::CounterBy;
use chrono::Utc;
use futures::StreamExt;
use lettre::message::Mailbox;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::db::billing_cycle::{self, CycleStatus};
use crate::db::payout;
use crate::db::payout_email::{self, Column};

/// Emails being sent at once.
const SENDS_IN_FLIGHT: usize = 8;
/// Emails read per round.
const EMAILS_PER_ROUND: u64 = 100;

/// What one round of the mailer did.
#[derive(Debug, Default)]
struct Round {
    /// Emails due that it read.
    read: usize,
    /// Emails that went out.
    delivered: usize,
}

pub const PENDING: &str = "pending";
pub const SENT: &str = "sent";
pub const STORED: &str = "stored";

/// Formats cents as dollars: `1234` -> `$12.34`, `-500` -> `-$5.00`.
pub fn dollars(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}${}.{:02}", cents / 100, cents % 100)
}

/// Sends (or stores) payout emails.
#[derive(Clone)]
pub struct Mailer {
    db: DatabaseConnection,
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    wakeup: Arc<Notify>,
    /// The time between two emails; zero sends as fast as SMTP takes them.
    pace: Duration,
    /// Emails by outcome: `sent`, `stored` (no SMTP) or `failed` (retried).
    outcomes: Option<CounterBy>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("smtp", &self.transport.is_some())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    pub fn new(db: DatabaseConnection, smtp_url: Option<&str>, from: &str) -> anyhow::Result<Self> {
        let transport = match smtp_url {
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|error| anyhow::anyhow!("SMTP_URL is not usable: {error}"))?
                    .timeout(Some(Duration::from_secs(10)))
                    .build(),
            ),
            None => None,
        };
        let from: Mailbox = from
            .parse()
            .map_err(|error| anyhow::anyhow!("MAIL_FROM is not a mailbox: {error}"))?;
        if from.name.as_deref().is_some_and(has_control) {
            anyhow::bail!("MAIL_FROM has a control character in its name");
        }
        Ok(Self {
            db,
            transport,
            from,
            wakeup: Arc::new(Notify::new()),
            pace: Duration::ZERO,
            outcomes: None,
        })
    }

    /// Counts each email's outcome in `outcomes`.
    #[must_use]
    pub fn counted_in(self, outcomes: CounterBy) -> Self {
        Self {
            outcomes: Some(outcomes),
            ..self
        }
    }

    fn count(&self, outcome: &'static str) {
        if let Some(outcomes) = &self.outcomes {
            outcomes.inc(outcome);
        }
    }

    /// Sends at most `per_second` emails a second (0: no limit).
    #[must_use]
    pub fn with_rate(self, per_second: u32) -> Self {
        let pace = match per_second {
            0 => Duration::ZERO,
            rate => Duration::from_secs(1) / rate,
        };
        Self { pace, ..self }
    }

    /// Wakes the mailer (after a close wrote emails).
    pub fn notify(&self) {
        self.wakeup.notify_one();
    }

    /// Delivers pending emails until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let round = tokio::select! {
                () = shutdown.cancelled() => break,
                round = self.round() => round,
            };
            match round {
                // More may be waiting: go on at once.
                Ok(round) if u64::try_from(round.read) == Ok(EMAILS_PER_ROUND) => continue,
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "mailer round failed"),
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.wakeup.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
        tracing::info!("mailer stopped");
    }

    /// One round: up to 100 pending emails that are due, of closes that
    /// have finished, paced. Returns how many went out.
    pub async fn deliver_pending(&self) -> anyhow::Result<usize> {
        Ok(self.round().await?.delivered)
    }

    async fn round(&self) -> anyhow::Result<Round> {
        let now = Utc::now();
        // Correlated: each candidate email looks up its own payout and
        // cycle by key (an `IN (every closed payout)` made SQLite build a
        // table of every payout ever on each round).
        let of_a_closed_cycle = Query::select()
            .expr(Expr::val(1))
            .from(payout::Entity)
            .inner_join(
                billing_cycle::Entity,
                Expr::col((billing_cycle::Entity, billing_cycle::Column::Id))
                    .equals((payout::Entity, payout::Column::BillingCycleId)),
            )
            .and_where(
                Expr::col((payout::Entity, payout::Column::Id))
                    .equals((payout_email::Entity, Column::PayoutId)),
            )
            .and_where(
                Expr::col((billing_cycle::Entity, billing_cycle::Column::Status))
                    .eq(CycleStatus::Closed.as_str()),
            )
            .to_owned();
        let due = payout_email::Entity::find()
            .filter(Column::Status.eq(PENDING))
            .filter(Column::NextAttemptAt.lte(now))
            .filter(Expr::exists(of_a_closed_cycle))
            .order_by_asc(Column::NextAttemptAt)
            .limit(EMAILS_PER_ROUND)
            .all(&self.db)
            .await?;
        let read = due.len();
        if due.is_empty() {
            return Ok(Round::default());
        }
        let accounts: HashMap<_, ReplicatedAccount> = account::Entity::find()
            .filter(account::Column::Id.is_in(due.iter().map(|email| email.account_id)))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|account| (account.id, account))
            .collect();
        // Each email starts at its slot of the pace; a few are in flight at
        // once, since one SMTP conversation waits on the network most of
        // the time (lettre's last write of a message waits for the
        // server's delayed ACK: ~40 ms on Linux).
        let started = tokio::time::Instant::now();
        let pace = self.pace;
        let accounts = &accounts;
        let mut outcomes = futures::stream::iter(due.into_iter().enumerate())
            .map(|(slot, email)| async move {
                let slot = u32::try_from(slot).unwrap_or(u32::MAX);
                tokio::time::sleep_until(started + pace.saturating_mul(slot)).await;
                let outcome = self.deliver(&email, accounts.get(&email.account_id)).await;
                (email, outcome)
            })
            .buffer_unordered(SENDS_IN_FLIGHT);
        let mut delivered = 0;
        while let Some((email, outcome)) = outcomes.next().await {
            match outcome {
                Ok(()) => {
                    delivered += 1;
                    self.count(if self.transport.is_some() {
                        "sent"
                    } else {
                        "stored"
                    });
                }
                Err(error) => {
                    self.count("failed");
                    let attempts = email.attempts.saturating_add(1);
                    let wait = Duration::from_secs(30).saturating_mul(
                        2u32.saturating_pow(Ord::min(u32::try_from(attempts).unwrap_or(16), 8)),
                    );
                    tracing::warn!(payout = %email.payout_id, attempts, %error, retry_in = ?wait, "payout email not sent");
                    payout_email::Entity::update_many()
                        .col_expr(Column::Attempts, Expr::value(attempts))
                        .col_expr(Column::LastError, Expr::value(error.to_string()))
                        .col_expr(
                            Column::NextAttemptAt,
                            Expr::value(now + chrono::Duration::from_std(wait).unwrap_or_default()),
                        )
                        .filter(Column::PayoutId.eq(email.payout_id))
                        .exec(&self.db)
                        .await?;
                }
            }
        }
        Ok(Round { read, delivered })
    }

    async fn deliver(
        &self,
        email: &payout_email::Model,
        account: Option<&ReplicatedAccount>,
    ) -> anyhow::Result<()> {
        let account = account
            .filter(|account| !account.email.is_empty())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no email address known for account {} yet",
                    email.account_id
                )
            })?;
        let recipient = recipient(&account.email)?;
        if has_control(&account.full_name) {
            anyhow::bail!(
                "refused: the name of account {} holds a control character",
                email.account_id
            );
        }
        let subject = format!(
            "aTES payout for {}: {}",
            email.business_date,
            dollars(email.amount_cents)
        );
        if has_control(&subject) {
            anyhow::bail!("refused: the subject {subject:?} holds a control character");
        }
        let body = format!(
            "Hello {},\n\nfor your work on {} aTES paid you {}.\nYour balance is now settled; the payout is in your audit log.\n\nUberPopug Inc. accounting\n",
            if account.full_name.is_empty() {
                "popug"
            } else {
                &account.full_name
            },
            email.business_date,
            dollars(email.amount_cents),
        );
        let status = match &self.transport {
            Some(transport) => {
                let message = Message::builder()
                    .from(self.from.clone())
                    .to(recipient)
                    .subject(subject.clone())
                    .message_id(Some(format!("<payout-{}@ates.popug.inc>", email.payout_id)))
                    .body(body.clone())?;
                transport.send(message).await?;
                SENT
            }
            None => {
                tracing::info!(to = %account.email, %subject, "payout email (SMTP_URL unset: stored, not sent)");
                STORED
            }
        };
        payout_email::Entity::update_many()
            .col_expr(Column::Status, Expr::value(status))
            .col_expr(Column::Recipient, Expr::value(account.email.clone()))
            .col_expr(Column::Subject, Expr::value(subject))
            .col_expr(Column::Body, Expr::value(body))
            .col_expr(Column::SentAt, Expr::value(ates_core::db::now()))
            .col_expr(
                Column::Attempts,
                Expr::value(email.attempts.saturating_add(1)),
            )
            .filter(Column::PayoutId.eq(email.payout_id))
            .filter(Column::Status.eq(PENDING))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

/// The account's email as a mailbox of the bare address: no display name
/// can ride along, and lettre's address rules leave no room for CR/LF or
/// a second header.
fn recipient(email: &str) -> anyhow::Result<Mailbox> {
    if has_control(email) {
        anyhow::bail!("refused: the address {email:?} holds a control character");
    }
    let address: Address = email
        .parse()
        .map_err(|error| anyhow::anyhow!("refused: {email:?} is not an email address: {error}"))?;
    Ok(Mailbox::new(None, address))
}

fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::dollars;

    #[test]
    fn cents_read_as_dollars() {
        assert_eq!(dollars(1234), "$12.34");
        assert_eq!(dollars(-500), "-$5.00");
        assert_eq!(dollars(7), "$0.07");
    }
}
