//! The dead-letter stream: where a consumer puts an event it can never
//! process, with the reason and the original headers, so that it can be
//! inspected and, once the cause is fixed, replayed to its consumer.
//!
//! An operator lists them and replays or discards each (`<service>
//! dead-letters`, [`crate::operations`]); a settled letter stays in the
//! stream, recorded as settled in the service's database.
//!
//! Each dead letter is published to
//! `deadletter.<consumer>.<original subject>` with these headers besides the
//! original ones: [`REASON`], [`CONSUMER`], [`ORIGINAL_SUBJECT`],
//! [`ORIGINAL_SEQUENCE`], [`DELIVERED`].

use std::collections::BTreeSet;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::context::GetStreamErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, ErrorCode};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
};

use super::EventBus;
use super::schema::settled_dead_letter;

pub const REASON: &str = "Ates-Dead-Letter-Reason";
pub const CONSUMER: &str = "Ates-Dead-Letter-Consumer";
pub const ORIGINAL_SUBJECT: &str = "Ates-Original-Subject";
pub const ORIGINAL_SEQUENCE: &str = "Ates-Original-Sequence";
pub const DELIVERED: &str = "Ates-Delivered";

/// The longest reason kept in a header.
const MAX_REASON_LEN: usize = 2000;

/// A message on its way to the dead-letter stream.
pub(crate) struct DeadLetter<'a> {
    pub consumer: &'a str,
    pub message: &'a jetstream::Message,
    pub delivered: u32,
    pub reason: &'a str,
}

/// A dead letter as stored, for inspection and replay.
#[derive(Debug, Clone)]
pub struct StoredDeadLetter {
    /// Its sequence in the dead-letter stream.
    pub sequence: u64,
    pub consumer: String,
    /// The original subject, without the environment prefix.
    pub original_subject: String,
    pub reason: String,
    pub delivered: u32,
    pub headers: HeaderMap,
    pub payload: Bytes,
}

/// Header values are one line of text.
fn header_safe(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_REASON_LEN)
        .collect()
}

pub(crate) async fn publish(
    bus: &EventBus,
    letter: &DeadLetter<'_>,
) -> Result<(), async_nats::Error> {
    let naming = bus.naming();
    let local_subject = naming
        .local_subject(letter.message.subject.as_str())
        .to_owned();
    let sequence = letter
        .message
        .info()
        .map(|info| info.stream_sequence)
        .unwrap_or_default();
    let mut headers = letter.message.headers.clone().unwrap_or_default();
    headers.insert(REASON, header_safe(letter.reason).as_str());
    headers.insert(CONSUMER, letter.consumer);
    headers.insert(ORIGINAL_SUBJECT, local_subject.as_str());
    headers.insert(ORIGINAL_SEQUENCE, sequence.to_string().as_str());
    headers.insert(DELIVERED, letter.delivered.to_string().as_str());
    // One dead letter per consumer and original message, even when the
    // consumer crashes between publishing it and acking the original.
    headers.insert(
        async_nats::header::NATS_MESSAGE_ID,
        format!("{}:{local_subject}:{sequence}", letter.consumer).as_str(),
    );
    let message = PublishMessage::build()
        .payload(letter.message.payload.clone())
        .headers(headers);
    bus.jetstream()
        .send_publish(
            naming.dead_letter_subject(letter.consumer, &local_subject),
            message,
        )
        .await?
        .await?;
    Ok(())
}

/// Every dead letter of `consumer`, oldest first.
pub async fn list(
    bus: &EventBus,
    consumer: &str,
) -> Result<Vec<StoredDeadLetter>, async_nats::Error> {
    let naming = bus.naming();
    let stream = match bus
        .jetstream()
        .get_stream(naming.dead_letter_stream())
        .await
    {
        Ok(stream) => stream,
        // No consumer has run yet: no dead letters.
        Err(error)
            if matches!(error.kind(), GetStreamErrorKind::JetStream(inner)
                if inner.error_code() == ErrorCode::STREAM_NOT_FOUND) =>
        {
            return Ok(Vec::new());
        }
        Err(error) => return Err(error.into()),
    };
    let mut reader = stream
        .create_consumer(pull::Config {
            deliver_policy: DeliverPolicy::All,
            ack_policy: AckPolicy::None,
            filter_subject: naming.dead_letter_filter(consumer),
            inactive_threshold: Duration::from_secs(30),
            ..Default::default()
        })
        .await?;
    let mut remaining = reader.info().await?.num_pending;
    let mut letters = Vec::new();
    while remaining > 0 {
        let batch = usize::try_from(remaining.min(500)).unwrap_or(500);
        let mut messages = reader
            .fetch()
            .max_messages(batch)
            .expires(Duration::from_secs(2))
            .messages()
            .await?;
        let mut got = 0u64;
        while let Some(message) = messages.next().await {
            letters.push(stored(&message?));
            got += 1;
        }
        if got == 0 {
            break;
        }
        remaining = remaining.saturating_sub(got);
    }
    Ok(letters)
}

fn stored(message: &jetstream::Message) -> StoredDeadLetter {
    let headers = message.headers.clone().unwrap_or_default();
    let header = |name: &str| {
        headers
            .get(name)
            .map(|value| value.as_str().to_owned())
            .unwrap_or_default()
    };
    let sequence = message
        .info()
        .map(|info| info.stream_sequence)
        .unwrap_or_default();
    StoredDeadLetter {
        sequence,
        consumer: header(CONSUMER),
        original_subject: header(ORIGINAL_SUBJECT),
        reason: header(REASON),
        delivered: header(DELIVERED).parse().unwrap_or_default(),
        payload: message.payload.clone(),
        headers,
    }
}

/// How an operator settled a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// Handed to the consumer again, which applied it (or had already).
    Replayed,
    /// Put aside without applying it.
    Discarded,
}

impl Settlement {
    pub fn as_str(self) -> &'static str {
        match self {
            Settlement::Replayed => "replayed",
            Settlement::Discarded => "discarded",
        }
    }
}

/// The dead letters of `consumer` nobody has replayed or discarded yet,
/// oldest first.
pub async fn waiting(
    bus: &EventBus,
    db: &DatabaseConnection,
    consumer: &str,
) -> Result<Vec<StoredDeadLetter>, anyhow::Error> {
    let letters = list(bus, consumer)
        .await
        .map_err(|error| anyhow::anyhow!("cannot read the dead-letter stream: {error}"))?;
    let settled: BTreeSet<i64> = settled_dead_letter::Entity::find()
        .filter(settled_dead_letter::Column::Consumer.eq(consumer))
        .all(db)
        .await?
        .into_iter()
        .map(|row| row.sequence)
        .collect();
    Ok(letters
        .into_iter()
        .filter(|letter| !settled.contains(&i64::try_from(letter.sequence).unwrap_or(i64::MAX)))
        .collect())
}

/// How many dead letters of `consumer` wait (for the metrics): those in
/// the stream less those settled, read without fetching the letters.
pub async fn waiting_count(
    bus: &EventBus,
    db: &DatabaseConnection,
    consumer: &str,
) -> Result<u64, anyhow::Error> {
    let naming = bus.naming();
    let Ok(stream) = bus
        .jetstream()
        .get_stream(naming.dead_letter_stream())
        .await
    else {
        return Ok(0);
    };
    let first = stream.cached_info().state.first_sequence;
    let counts: Vec<(String, usize)> = stream
        .info_with_subjects(naming.dead_letter_filter(consumer))
        .await?
        .try_collect()
        .await?;
    let in_stream: u64 = counts.iter().map(|(_, count)| *count as u64).sum();
    let settled = settled_dead_letter::Entity::find()
        .filter(settled_dead_letter::Column::Consumer.eq(consumer))
        .filter(settled_dead_letter::Column::Sequence.gte(i64::try_from(first).unwrap_or(i64::MAX)))
        .count(db)
        .await?;
    Ok(in_stream.saturating_sub(settled))
}

/// Records that `sequence` of `consumer` was settled; it no longer waits.
pub async fn settle(
    db: &DatabaseConnection,
    consumer: &str,
    sequence: u64,
    settlement: Settlement,
    detail: &str,
) -> Result<(), DbErr> {
    let _turn = crate::db::write_turn(db).await;
    settled_dead_letter::Entity::insert(settled_dead_letter::ActiveModel {
        consumer: ActiveValue::Set(consumer.to_owned()),
        sequence: ActiveValue::Set(i64::try_from(sequence).unwrap_or(i64::MAX)),
        outcome: ActiveValue::Set(settlement.as_str().to_owned()),
        detail: ActiveValue::Set(detail.to_owned()),
        settled_at: ActiveValue::Set(chrono::Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([
            settled_dead_letter::Column::Consumer,
            settled_dead_letter::Column::Sequence,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}
