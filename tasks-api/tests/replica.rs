//! The account replica against any delivery order: whatever the order of
//! an account's events, copies of them, and a stray event from before
//! revisions, the replica ends in the account's newest state (a property
//! over random histories, on the service's real database).

#![allow(clippy::unwrap_used)]

use ates_core::account_replica;
use ates_core::bus::IncomingEvent;
use ates_core::testing::TestDatabase;
use chrono::{DateTime, Duration, TimeZone, Utc};
use event_schemas::accounts::{
    AccountCreatedV2, AccountDeactivatedV2, AccountRoleChangedV2, AccountUpdatedV1,
    AccountUpdatedV2, Role,
};
use event_schemas::{Envelope, EventKey, EventPayload};
use proptest::prelude::*;
use sea_orm_migration::MigratorTrait;
use uuid::Uuid;

/// One change an admin makes.
#[derive(Debug, Clone)]
enum Change {
    Rename(u8),
    Role(Role),
    Deactivate,
}

/// The account's state, as the replica should end up holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    email: String,
    full_name: String,
    role: Role,
    active: bool,
}

fn incoming<T: EventPayload>(at: DateTime<Utc>, data: T) -> IncomingEvent {
    let envelope = Envelope::at("auth-api", at, data);
    IncomingEvent {
        key: EventKey {
            name: T::NAME.into(),
            version: T::VERSION,
        },
        event_id: envelope.event_id,
        envelope: serde_json::to_value(&envelope).unwrap(),
        delivered: 1,
        span: tracing::Span::none(),
    }
}

/// The events auth-api publishes for a history, and the final state.
fn events_of(id: Uuid, changes: &[Change]) -> (Vec<IncomingEvent>, State) {
    let start = Utc::now();
    let mut state = State {
        email: "kesha@popug.inc".into(),
        full_name: "Kesha".into(),
        role: Role::Worker,
        active: true,
    };
    let mut events = vec![incoming(
        start,
        AccountCreatedV2 {
            account_id: id,
            email: state.email.clone(),
            full_name: state.full_name.clone(),
            role: state.role,
            active: true,
            created_at: start,
            revision: 1,
        },
    )];
    for (index, change) in changes.iter().enumerate() {
        let revision = i64::try_from(index).unwrap() + 2;
        // Event times that say nothing of the order.
        let at = start + Duration::seconds(if index % 2 == 0 { 1_000 } else { -1_000 });
        let previous_role = state.role;
        match change {
            Change::Rename(n) => state.full_name = format!("Kesha {n}"),
            Change::Role(role) => state.role = *role,
            Change::Deactivate => state.active = false,
        }
        events.push(incoming(
            at,
            AccountUpdatedV2 {
                account_id: id,
                email: state.email.clone(),
                full_name: state.full_name.clone(),
                role: state.role,
                active: state.active,
                updated_at: at,
                revision,
            },
        ));
        match change {
            Change::Role(role) => events.push(incoming(
                at,
                AccountRoleChangedV2 {
                    account_id: id,
                    previous_role,
                    role: *role,
                    changed_at: at,
                    revision,
                },
            )),
            Change::Deactivate => events.push(incoming(
                at,
                AccountDeactivatedV2 {
                    account_id: id,
                    deactivated_at: at,
                    revision,
                },
            )),
            Change::Rename(_) => {}
        }
    }
    (events, state)
}

fn a_change() -> impl Strategy<Value = Change> {
    prop_oneof![
        any::<u8>().prop_map(Change::Rename),
        prop_oneof![
            Just(Role::Admin),
            Just(Role::Manager),
            Just(Role::Accountant),
            Just(Role::Worker)
        ]
        .prop_map(Change::Role),
        Just(Change::Deactivate),
    ]
}

async fn replica_ends_in_the_newest_state(
    changes: Vec<Change>,
    order: Vec<usize>,
    copies: Vec<usize>,
    stray_at: usize,
) {
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    tasks_api::db::migrations::Migrator::up(&db, None)
        .await
        .unwrap();
    let id = Uuid::now_v7();
    let (events, expected) = events_of(id, &changes);
    // Deliver in the drawn order, some events twice, and an event from
    // before revisions that claims the far future.
    let mut delivery: Vec<IncomingEvent> = Vec::new();
    let mut indices: Vec<usize> = (0..events.len()).collect();
    let count = indices.len();
    for (position, pick) in order.iter().enumerate() {
        indices.swap(position % count, pick % count);
    }
    for index in indices {
        delivery.push(events[index].clone());
    }
    for copy in copies {
        delivery.push(events[copy % events.len()].clone());
    }
    let far = Utc.with_ymd_and_hms(9999, 12, 31, 0, 0, 0).unwrap();
    let stray = incoming(
        far,
        AccountUpdatedV1 {
            account_id: id,
            email: "stray@popug.inc".into(),
            full_name: "Stray".into(),
            role: Role::Admin,
            active: true,
            updated_at: far,
        },
    );
    delivery.insert(stray_at % (delivery.len() + 1), stray);
    for event in &delivery {
        account_replica::apply(&db, event).await.unwrap();
    }
    let row = account_replica::find(&db, id).await.unwrap().unwrap();
    let held = State {
        email: row.email.clone(),
        full_name: row.full_name.clone(),
        role: row.role().unwrap(),
        active: row.active,
    };
    assert_eq!(held, expected, "after {delivery:?}");
    db.close().await.unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn any_delivery_order_ends_in_the_newest_state(
        changes in proptest::collection::vec(a_change(), 0..6),
        order in proptest::collection::vec(any::<usize>(), 0..12),
        copies in proptest::collection::vec(any::<usize>(), 0..4),
        stray_at in any::<usize>(),
    ) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(replica_ends_in_the_newest_state(changes, order, copies, stray_at));
    }
}
