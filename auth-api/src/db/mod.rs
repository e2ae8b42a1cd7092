//! auth-api's tables: accounts, refresh tokens, signing keys, throttle
//! windows and known clients, plus the bus tables from ates-core.

pub mod migrations;

/// Accounts with their credentials.
pub mod account {
    use ates_core::db::{UnreadableRow, parse_stored};
    use event_schemas::accounts::Role;
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "accounts")]
    pub struct Model {
        /// The public id, the only id other services see.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Lower-cased, unique.
        #[sea_orm(unique)]
        pub email: String,
        pub full_name: String,
        pub role: String,
        pub active: bool,
        pub password_hash: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// 1 at creation, one more with every change other services
        /// replicate; stamped on every account event.
        pub revision: i64,
        /// The password is temporary (set by an admin, or generated for a
        /// bootstrap admin): login is refused until it is changed.
        pub must_change_password: bool,
        /// When the password last changed: auth-api refuses the account's
        /// access tokens issued before it.
        pub credentials_changed_at: Option<DateTimeUtc>,
    }

    impl ActiveModelBehavior for ActiveModel {}

    impl Model {
        /// The stored role as the enum; a value it does not know is an
        /// internal error naming this account, never `worker` by default
        /// (it would end up inside a signed token).
        pub fn role(&self) -> Result<Role, UnreadableRow> {
            parse_stored("accounts", self.id, "role", &self.role)
        }
    }
}

/// Refresh tokens, stored hashed; one family per login.
pub mod refresh_token {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "refresh_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub family_id: Uuid,
        pub account_id: Uuid,
        /// SHA-256 of the token, hex.
        #[sea_orm(unique)]
        pub token_hash: String,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub used_at: Option<DateTimeUtc>,
        pub revoked_at: Option<DateTimeUtc>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// Ed25519 signing keys; the newest unretired one signs.
pub mod signing_key {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "signing_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub kid: String,
        /// The 32-byte secret seed, base64.
        pub private_key: String,
        /// The public key, base64url (the JWK `x`).
        pub public_key: String,
        pub created_at: DateTimeUtc,
        pub retired_at: Option<DateTimeUtc>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// Throttle windows: how many attempts a bucket (an email's password
/// checks, a client address's logins and sign-ups) has used in its current
/// window. The database is the arbiter, so every instance sees one count.
pub mod throttle_window {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "throttle_windows")]
    pub struct Model {
        /// `email:<email>` or `client:<address>`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub bucket: String,
        /// Attempts reserved in the window (at most the limit plus one).
        pub hits: i64,
        /// When the window ends and the count starts again.
        pub window_ends_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// Where each account has logged in from: its email and the client
/// address's bucket, with the last successful login from there. A login
/// from a known place waits in the hashing pool's first lane.
pub mod known_client {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "known_clients")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub email: String,
        /// `client:<address>` (IPv6 per /64).
        #[sea_orm(primary_key, auto_increment = false)]
        pub client: String,
        pub last_login_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}
