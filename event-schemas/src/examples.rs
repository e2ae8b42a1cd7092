//! One complete example event of every typed payload, for tests and the
//! generated documentation.

use serde_json::Value;
use uuid::Uuid;

use crate::accounting::{BillingCycleClosedV1, PaymentMadeV1, TaskPricedV1, TransactionAppliedV1};
use crate::accounts::{
    AccountCreatedV1, AccountCreatedV2, AccountDeactivatedV1, AccountDeactivatedV2,
    AccountRoleChangedV1, AccountRoleChangedV2, AccountUpdatedV1, AccountUpdatedV2,
};
use crate::fixtures::time;
use crate::tasks::{
    TaskAssignedV1, TaskAssignedV2, TaskCompletedV1, TaskCompletedV2, TaskCreatedV1, TaskCreatedV2,
    TaskCreatedV3,
};
use crate::{Envelope, EventKey, EventPayload};

fn example_event<T: EventPayload>() -> (EventKey, Value) {
    let mut envelope = Envelope::at("example-producer", time(), T::example());
    envelope.event_id = Uuid::from_u128(0x0195_6b20_0000_7000_8000_0000_0000_0001);
    let key = EventKey {
        name: T::NAME.to_owned(),
        version: T::VERSION,
    };
    let value = serde_json::to_value(envelope).expect("an example serializes");
    (key, value)
}

/// One complete example event (envelope and data) for every typed payload
/// the crate defines: for tests and generated documentation.
pub fn examples() -> Vec<(EventKey, Value)> {
    vec![
        example_event::<AccountCreatedV1>(),
        example_event::<AccountCreatedV2>(),
        example_event::<AccountUpdatedV1>(),
        example_event::<AccountUpdatedV2>(),
        example_event::<AccountRoleChangedV1>(),
        example_event::<AccountRoleChangedV2>(),
        example_event::<AccountDeactivatedV1>(),
        example_event::<AccountDeactivatedV2>(),
        example_event::<TaskCreatedV1>(),
        example_event::<TaskCreatedV2>(),
        example_event::<TaskCreatedV3>(),
        example_event::<TaskAssignedV1>(),
        example_event::<TaskAssignedV2>(),
        example_event::<TaskCompletedV1>(),
        example_event::<TaskCompletedV2>(),
        example_event::<TaskPricedV1>(),
        example_event::<TransactionAppliedV1>(),
        example_event::<PaymentMadeV1>(),
        example_event::<BillingCycleClosedV1>(),
    ]
}
