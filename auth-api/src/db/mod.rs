//! auth-api's tables: accounts, refresh tokens, signing keys and login
//! throttles, plus the bus tables from ates-core.

pub mod migrations;

/// Accounts with their credentials.
pub mod account {
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

/// Failed logins per email, for throttling.
pub mod login_throttle {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "login_throttles")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub email: String,
        pub failures: i32,
        pub first_failure_at: DateTimeUtc,
        pub blocked_until: Option<DateTimeUtc>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}
