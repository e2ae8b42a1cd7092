//! auth-api: `serve` (the default), `create-admin`, `rotate-keys`, `openapi`.

use std::io::Read;

use ates_core::bus::EventBus;
use ates_core::service::config_from_env;
use auth_api::AuthApi;
use auth_api::db::migrations::Migrator;
use auth_api::domain::{accounts, keys, passwords};
use event_schemas::accounts::Role;
use sea_orm_migration::MigratorTrait;

/// auth-api's own commands.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Create an admin account. The password comes from standard input
    /// with --password-stdin, else ATES_ADMIN_PASSWORD, else it is generated
    /// and printed, and is temporary: it must be changed at the first login.
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "aTES Admin")]
        full_name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Add a new signing key and retire the current one (it stays in the
    /// JWKS for SIGNING_KEY_GRACE_SECS).
    RotateKeys,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ates_core::service::main_with::<AuthApi, Command, _>(run).await
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::CreateAdmin {
            email,
            full_name,
            password_stdin,
        } => {
            let config = config_from_env::<AuthApi>()?;
            let (password, generated) = if password_stdin {
                let mut password = String::new();
                std::io::stdin().read_to_string(&mut password)?;
                (password.trim_end_matches(['\n', '\r']).to_owned(), false)
            } else if let Some(password) = config.admin_password.clone() {
                (password, false)
            } else {
                (passwords::generate(), true)
            };
            let db = ates_core::db::connect(&config.service.database_url, 2).await?;
            Migrator::up(&db, None).await?;
            let outbox = EventBus::connect(&config.service.bus).await?.outbox();
            let new = accounts::NewAccount {
                email: email.clone(),
                password: password.clone(),
                full_name,
                role: Role::Admin,
                must_change_password: generated,
            };
            let account = accounts::create(&db, &outbox, new, ates_core::db::now())
                .await
                .map_err(|error| anyhow::anyhow!("cannot create the admin: {error}"))?
                .commit()
                .await?;
            println!("created admin {} ({})", account.email, account.id);
            if generated {
                println!(
                    "password: {password}  (shown once; temporary: change it before the first login with POST /v1/auth/password)"
                );
            }
            Ok(())
        }
        Command::RotateKeys => {
            let config = config_from_env::<AuthApi>()?;
            let db = ates_core::db::connect(&config.service.database_url, 2).await?;
            Migrator::up(&db, None).await?;
            let kid = keys::rotate(&db, config.signing_key_lead).await?;
            println!(
                "new signing key {kid}: in the JWKS now, signing in {} s; the old one signs until then and stays in the JWKS {} s more",
                config.signing_key_lead.as_secs(),
                config.signing_key_grace.as_secs()
            );
            Ok(())
        }
    }
}
