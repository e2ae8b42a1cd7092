//! `tasks.created` v1 -> v2: every v1 event, whatever its title, upgrades
//! to a v2 event that passes the v2 schema.

#![allow(clippy::unwrap_used)]

use event_schemas::tasks::{TaskCreatedV1, TaskCreatedV2};
use event_schemas::{Envelope, EventPayload, validate};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn every_valid_v1_upgrades_to_a_valid_v2(title in "[ -~\u{e0}-\u{ff}\u{1f99c}]{1,250}", key in "[A-Z][A-Z0-9]{1,5}-[0-9]{1,5}", lead in any::<bool>()) {
        let title = if lead { format!("[{key}] {title}") } else { title };
        let title: String = title.chars().take(250).collect();
        let v1 = TaskCreatedV1 { title, ..TaskCreatedV1::example() };
        let v1_event = serde_json::to_value(Envelope::new("tasks-api", v1.clone())).unwrap();
        prop_assume!(validate(TaskCreatedV1::NAME, 1, &v1_event).is_ok());

        let v2 = TaskCreatedV2::from(v1.clone());
        let v2_event = serde_json::to_value(Envelope::new("tasks-api", v2.clone())).unwrap();
        prop_assert!(validate(TaskCreatedV2::NAME, 2, &v2_event).is_ok(), "{:?} -> {:?}", v1.title, v2.title);
        prop_assert_eq!(v2.task_id, v1.task_id);
        if lead {
            prop_assert_eq!(v2.jira_id.as_deref(), Some(key.as_str()));
        }
    }
}
