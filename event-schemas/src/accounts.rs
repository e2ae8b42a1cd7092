//! Account events, published by auth-api.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{EventPayload, fixtures};

/// The one role every account has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Manager,
    Accountant,
    Worker,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Manager, Role::Accountant, Role::Worker];

    /// The wire name, as in the schemas and tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Accountant => "accountant",
            Role::Worker => "worker",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| format!("unknown role {text:?}"))
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `accounts.created` v1 (CUD): an account was created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountCreatedV1 {
    pub account_id: Uuid,
    pub email: String,
    pub full_name: String,
    pub role: Role,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

impl EventPayload for AccountCreatedV1 {
    const NAME: &'static str = "accounts.created";
    const VERSION: u32 = 1;

    fn example() -> Self {
        Self {
            account_id: fixtures::account_id(),
            email: "kesha@popug.inc".into(),
            full_name: "Kesha Popugaev".into(),
            role: Role::Worker,
            active: true,
            created_at: fixtures::time(),
        }
    }
}

/// `accounts.updated` v1 (CUD): the full state of an account after a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountUpdatedV1 {
    pub account_id: Uuid,
    pub email: String,
    pub full_name: String,
    pub role: Role,
    pub active: bool,
    pub updated_at: DateTime<Utc>,
}

impl EventPayload for AccountUpdatedV1 {
    const NAME: &'static str = "accounts.updated";
    const VERSION: u32 = 1;

    fn example() -> Self {
        Self {
            account_id: fixtures::account_id(),
            email: "kesha@popug.inc".into(),
            full_name: "Kesha Popugaev-Krylov".into(),
            role: Role::Accountant,
            active: true,
            updated_at: fixtures::time(),
        }
    }
}

/// `accounts.role_changed` v1 (business): an admin changed an account's role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountRoleChangedV1 {
    pub account_id: Uuid,
    pub previous_role: Role,
    pub role: Role,
    pub changed_at: DateTime<Utc>,
}

impl EventPayload for AccountRoleChangedV1 {
    const NAME: &'static str = "accounts.role_changed";
    const VERSION: u32 = 1;

    fn example() -> Self {
        Self {
            account_id: fixtures::account_id(),
            previous_role: Role::Worker,
            role: Role::Manager,
            changed_at: fixtures::time(),
        }
    }
}

/// `accounts.deactivated` v1 (business): the account must be refused everywhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountDeactivatedV1 {
    pub account_id: Uuid,
    pub deactivated_at: DateTime<Utc>,
}

impl EventPayload for AccountDeactivatedV1 {
    const NAME: &'static str = "accounts.deactivated";
    const VERSION: u32 = 1;

    fn example() -> Self {
        Self {
            account_id: fixtures::account_id(),
            deactivated_at: fixtures::time(),
        }
    }
}

/// `accounts.created` v2 (CUD): v1 plus the account's `revision` (1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountCreatedV2 {
    pub account_id: Uuid,
    pub email: String,
    pub full_name: String,
    pub role: Role,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    /// The account's revision: 1 at creation, one more with every change.
    pub revision: i64,
}

impl EventPayload for AccountCreatedV2 {
    const NAME: &'static str = "accounts.created";
    const VERSION: u32 = 2;

    fn example() -> Self {
        let v1 = AccountCreatedV1::example();
        Self {
            account_id: v1.account_id,
            email: v1.email,
            full_name: v1.full_name,
            role: v1.role,
            active: v1.active,
            created_at: v1.created_at,
            revision: 1,
        }
    }
}

/// `accounts.updated` v2 (CUD): v1 plus the account's `revision` after
/// the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountUpdatedV2 {
    pub account_id: Uuid,
    pub email: String,
    pub full_name: String,
    pub role: Role,
    pub active: bool,
    pub updated_at: DateTime<Utc>,
    pub revision: i64,
}

impl EventPayload for AccountUpdatedV2 {
    const NAME: &'static str = "accounts.updated";
    const VERSION: u32 = 2;

    fn example() -> Self {
        let v1 = AccountUpdatedV1::example();
        Self {
            account_id: v1.account_id,
            email: v1.email,
            full_name: v1.full_name,
            role: v1.role,
            active: v1.active,
            updated_at: v1.updated_at,
            revision: 2,
        }
    }
}

/// `accounts.role_changed` v2 (business): v1 plus the account's `revision`
/// after the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountRoleChangedV2 {
    pub account_id: Uuid,
    pub previous_role: Role,
    pub role: Role,
    pub changed_at: DateTime<Utc>,
    pub revision: i64,
}

impl EventPayload for AccountRoleChangedV2 {
    const NAME: &'static str = "accounts.role_changed";
    const VERSION: u32 = 2;

    fn example() -> Self {
        let v1 = AccountRoleChangedV1::example();
        Self {
            account_id: v1.account_id,
            previous_role: v1.previous_role,
            role: v1.role,
            changed_at: v1.changed_at,
            revision: 2,
        }
    }
}

/// `accounts.deactivated` v2 (business): v1 plus the account's `revision`
/// after the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountDeactivatedV2 {
    pub account_id: Uuid,
    pub deactivated_at: DateTime<Utc>,
    pub revision: i64,
}

impl EventPayload for AccountDeactivatedV2 {
    const NAME: &'static str = "accounts.deactivated";
    const VERSION: u32 = 2;

    fn example() -> Self {
        let v1 = AccountDeactivatedV1::example();
        Self {
            account_id: v1.account_id,
            deactivated_at: v1.deactivated_at,
            revision: 3,
        }
    }
}
