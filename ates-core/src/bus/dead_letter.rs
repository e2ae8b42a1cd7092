//! The dead-letter stream: where a consumer puts an event it can never
//! process, with the reason and the original headers, so that it can be
//! inspected and, once the cause is fixed, replayed to its consumer.
//!
//! Each dead letter is published to
//! `deadletter.<consumer>.<original subject>` with these headers besides the
//! original ones: [`REASON`], [`CONSUMER`], [`ORIGINAL_SUBJECT`],
//! [`ORIGINAL_SEQUENCE`], [`DELIVERED`].

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use futures::StreamExt;

use super::EventBus;

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
    let stream = bus
        .jetstream()
        .get_stream(naming.dead_letter_stream())
        .await?;
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

/// Publishes every dead letter of `consumer` again on its original subject
/// (the consumer sees it as a new delivery) and removes it from the
/// dead-letter stream. Returns how many were replayed.
pub async fn replay(bus: &EventBus, consumer: &str) -> Result<usize, async_nats::Error> {
    let letters = list(bus, consumer).await?;
    let stream: stream::Stream = bus
        .jetstream()
        .get_stream(bus.naming().dead_letter_stream())
        .await?;
    for letter in &letters {
        let message = PublishMessage::build()
            .payload(letter.payload.clone())
            .message_id(format!("replay:{}:{}", consumer, letter.sequence));
        bus.jetstream()
            .send_publish(bus.naming().wire_subject(&letter.original_subject), message)
            .await?
            .await?;
        stream.delete_message(letter.sequence).await?;
    }
    Ok(letters.len())
}
