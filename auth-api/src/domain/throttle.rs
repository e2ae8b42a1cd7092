//! Throttling that holds under concurrency and across instances: before a
//! password is hashed, the attempt is reserved in the database with one
//! atomic statement per bucket, so however many requests arrive at once,
//! and at however many auth-api instances, a bucket never gets more than
//! its limit in a window.
//!
//! Two kinds of bucket:
//! - an email's password checks (`LOGIN_MAX_FAILURES` per
//!   `LOGIN_FAILURE_WINDOW_SECS`): every check reserves a slot before it
//!   hashes; a check that lets the account in gives its own slot back, one
//!   that fails (or is still running) keeps it. So the email gets at most
//!   the limit of failed checks per window, and never more checks at once;
//!   only the right password gives a slot back, so nobody else can reset it.
//! - a client address's logins, sign-ups and password changes
//!   (`CLIENT_MAX_ATTEMPTS` per `CLIENT_WINDOW_SECS`), counted only for
//!   requests the email's throttle let through.
//!
//! A login from an address the account has logged in from before (within
//! 30 days) waits in the hashing pool's first lane ([`lane_of`]).
//!
//! A window is fixed: it starts with the bucket's first attempt and ends
//! `window` later, whatever happens in it; refused attempts get 429 with
//! `Retry-After` until its end, without hashing.

use std::net::IpAddr;
use std::time::Duration;

use ates_core::db;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
};

use super::AuthError;
use super::passwords::Lane;
use crate::db::known_client;
use crate::db::throttle_window::{self, Column};

/// The limits, from the configuration.
#[derive(Debug, Clone)]
pub struct ThrottlePolicy {
    /// Password checks per email per window (`LOGIN_MAX_FAILURES`).
    pub email_max_checks: u32,
    /// `LOGIN_FAILURE_WINDOW_SECS`.
    pub email_window: Duration,
    /// Logins, sign-ups and password changes per client address per window
    /// (`CLIENT_MAX_ATTEMPTS`).
    pub client_max_attempts: u32,
    /// `CLIENT_WINDOW_SECS`.
    pub client_window: Duration,
}

/// Where a request comes from, as far as throttling is concerned: the
/// client's address (IPv6 counted per /64, the block one subscriber gets,
/// so rotating through its own addresses does not reset the count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client(pub IpAddr);

impl Client {
    fn bucket(self) -> String {
        match self.0.to_canonical() {
            IpAddr::V4(address) => format!("client:{address}"),
            IpAddr::V6(address) => {
                let prefix = u128::from(address) & !((1u128 << 64) - 1);
                format!("client:{}/64", std::net::Ipv6Addr::from(prefix))
            }
        }
    }
}

/// A password check reserved for an email; give it back with [`release`]
/// when it never ran, or with [`let_in`] when it let the account in.
#[derive(Debug, Clone)]
pub struct Reservation {
    bucket: String,
    window_ends_at: DateTime<Utc>,
}

/// How long a client address stays known for an account after its last
/// successful login there (the refresh-token lifetime's default).
const KNOWN_CLIENT_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

/// The answer of one bucket: a slot in the window, or the seconds until
/// the window ends.
enum Slot {
    Reserved(DateTime<Utc>),
    Refused { retry_after_secs: u64 },
}

fn chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

fn seconds_until(end: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    let millis = u64::try_from((end - now).num_milliseconds()).unwrap_or(0);
    std::cmp::Ord::max(millis.div_ceil(1000), 1)
}

/// Reserves one attempt in `bucket`, in one statement: a new or ended
/// window starts at 1; a window at its limit stays at limit + 1 (refused);
/// otherwise the count goes up by one.
async fn reserve(
    conn: &impl ConnectionTrait,
    bucket: &str,
    limit: u32,
    window: Duration,
    now: DateTime<Utc>,
) -> Result<Slot, DbErr> {
    let table = throttle_window::Entity;
    let hits = || Expr::col((table, Column::Hits));
    let ends_at = || Expr::col((table, Column::WindowEndsAt));
    let new_end = now + chrono(window);
    let limit = i64::from(limit);
    let mut upsert = Query::insert();
    upsert
        .into_table(table)
        .columns([Column::Bucket, Column::Hits, Column::WindowEndsAt])
        .values([bucket.into(), 1i64.into(), new_end.into()])
        .map_err(|error| DbErr::Custom(error.to_string()))?
        .on_conflict(
            OnConflict::column(Column::Bucket)
                .value(
                    Column::Hits,
                    Expr::case(ends_at().lte(now), 1i64)
                        .case(hits().gt(limit), hits())
                        .finally(hits().add(1i64)),
                )
                .value(
                    Column::WindowEndsAt,
                    Expr::case(ends_at().lte(now), new_end).finally(ends_at()),
                )
                .to_owned(),
        )
        .returning(Query::returning().columns([Column::Hits, Column::WindowEndsAt]));
    let row = conn
        .query_one(&upsert)
        .await?
        .ok_or_else(|| DbErr::Custom("the throttle upsert returned no row".into()))?;
    let count: i64 = row.try_get("", "hits")?;
    let window_ends_at: DateTime<Utc> = row.try_get("", "window_ends_at")?;
    Ok(if count > limit {
        Slot::Refused {
            // A concurrent request may have opened the window a moment
            // after this one's `now`: never more than the window itself.
            retry_after_secs: std::cmp::Ord::min(
                seconds_until(window_ends_at, now),
                std::cmp::Ord::max(window.as_secs(), 1),
            ),
        }
    } else {
        Slot::Reserved(window_ends_at)
    })
}

/// Reserves a password check for `email` (already normalized), then an
/// attempt of `client`, in one transaction: a request the email's
/// throttle refuses is not counted against the address, and one the
/// address refuses takes no slot of the email.
pub async fn reserve_password_check(
    db: &DatabaseConnection,
    policy: &ThrottlePolicy,
    email: &str,
    client: Client,
    now: DateTime<Utc>,
) -> Result<Reservation, AuthError> {
    let bucket = format!("email:{email}");
    let txn = db::begin_write(db).await?;
    let email_slot = reserve(
        &txn,
        &bucket,
        policy.email_max_checks,
        policy.email_window,
        now,
    )
    .await?;
    let window_ends_at = match email_slot {
        Slot::Reserved(window_ends_at) => window_ends_at,
        Slot::Refused { retry_after_secs } => {
            txn.commit().await?;
            return Err(AuthError::Throttled { retry_after_secs });
        }
    };
    match reserve(
        &txn,
        &client.bucket(),
        policy.client_max_attempts,
        policy.client_window,
        now,
    )
    .await?
    {
        Slot::Reserved(_) => {
            txn.commit().await?;
            Ok(Reservation {
                bucket,
                window_ends_at,
            })
        }
        Slot::Refused { retry_after_secs } => {
            txn.rollback().await?;
            Err(AuthError::ClientThrottled { retry_after_secs })
        }
    }
}

/// Counts an attempt of `client` that checks no email's password (sign-up):
/// `ClientThrottled` once the address has used its window.
pub async fn admit_client(
    db: &DatabaseConnection,
    policy: &ThrottlePolicy,
    client: Client,
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    let txn = db::begin_write(db).await?;
    let slot = reserve(
        &txn,
        &client.bucket(),
        policy.client_max_attempts,
        policy.client_window,
        now,
    )
    .await?;
    txn.commit().await?;
    match slot {
        Slot::Reserved(_) => Ok(()),
        Slot::Refused { retry_after_secs } => Err(AuthError::ClientThrottled { retry_after_secs }),
    }
}

/// Gives a reserved password check back (the hashing queue was full and it
/// never ran). Only in the window it was taken from: once that window has
/// ended there is nothing to give back.
pub async fn release(db: &DatabaseConnection, reservation: Reservation) -> Result<(), AuthError> {
    let txn = db::begin_write(db).await?;
    give_back(&txn, reservation).await?;
    txn.commit().await?;
    Ok(())
}

async fn give_back(conn: &impl ConnectionTrait, reservation: Reservation) -> Result<(), DbErr> {
    throttle_window::Entity::update_many()
        .col_expr(Column::Hits, Expr::col(Column::Hits).sub(1i64))
        .filter(Column::Bucket.eq(reservation.bucket))
        .filter(Column::WindowEndsAt.eq(reservation.window_ends_at))
        .filter(Column::Hits.gt(0i64))
        .exec(conn)
        .await?;
    Ok(())
}

/// A check let the account of `email` in from `client`: its slot goes back
/// and the address becomes known for the account (see [`lane_of`]).
pub async fn let_in(
    db: &DatabaseConnection,
    reservation: Reservation,
    email: &str,
    client: Client,
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    let txn = db::begin_write(db).await?;
    give_back(&txn, reservation).await?;
    known_client::Entity::insert(known_client::ActiveModel {
        email: ActiveValue::Set(email.to_owned()),
        client: ActiveValue::Set(client.bucket()),
        last_login_at: ActiveValue::Set(now),
    })
    .on_conflict(
        OnConflict::columns([known_client::Column::Email, known_client::Column::Client])
            .update_column(known_client::Column::LastLoginAt)
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The hashing lane of a check for `email` from `client`: `Returning` when
/// the account logged in from this address within 30 days, so a storm of
/// guesses from elsewhere cannot crowd its owner out. It depends only on
/// the caller's own address, so it tells a stranger nothing about the
/// account.
pub async fn lane_of(
    db: &DatabaseConnection,
    email: &str,
    client: Client,
    now: DateTime<Utc>,
) -> Result<Lane, AuthError> {
    let known = known_client::Entity::find_by_id((email.to_owned(), client.bucket()))
        .one(db)
        .await?
        .is_some_and(|known| known.last_login_at > now - chrono(KNOWN_CLIENT_FOR));
    Ok(if known { Lane::Returning } else { Lane::Other })
}

/// Deletes the windows that have ended (their buckets start again from
/// nothing anyway), so guesses at random emails do not grow the table for
/// good, and client addresses unused for 30 days. Returns how many
/// windows went.
pub async fn prune(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let txn = db::begin_write(db).await?;
    let deleted = throttle_window::Entity::delete_many()
        .filter(Column::WindowEndsAt.lte(now))
        .exec(&txn)
        .await?;
    known_client::Entity::delete_many()
        .filter(known_client::Column::LastLoginAt.lte(now - chrono(KNOWN_CLIENT_FOR)))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(deleted.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let other: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let elsewhere: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(Client(one).bucket(), "client:2001:db8:1:2::/64");
        assert_eq!(Client(one).bucket(), Client(other).bucket());
        assert_ne!(Client(one).bucket(), Client(elsewhere).bucket());
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(Client(mapped).bucket(), "client:10.1.2.3");
    }

    #[test]
    fn retry_after_rounds_up_and_is_at_least_one_second() {
        let now = Utc::now();
        assert_eq!(
            seconds_until(now + chrono::Duration::milliseconds(1), now),
            1
        );
        assert_eq!(
            seconds_until(now + chrono::Duration::milliseconds(1001), now),
            2
        );
        assert_eq!(seconds_until(now - chrono::Duration::seconds(5), now), 1);
    }
}
