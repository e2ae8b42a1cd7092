//! Fixed values for the payload examples, so every example is stable and
//! the examples of related events refer to the same account and task.

use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

pub(crate) fn time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 3, 10, 0, 0)
        .single()
        .expect("a valid fixed date")
}

pub(crate) fn account_id() -> Uuid {
    Uuid::from_u128(0x0195_6b1e_7c4a_7d2e_9a4b_3c1d_2e0f_1a2b)
}

pub(crate) fn task_id() -> Uuid {
    Uuid::from_u128(0x0195_6b1f_0000_7abc_8def_0123_4567_89ab)
}
