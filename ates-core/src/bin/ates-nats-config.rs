//! `ates-nats-config`: writes the broker's configuration with one nkey
//! identity per aTES service and the permission set of
//! `ates_core::bus::permissions`, creating each identity's seed on first run
//! and keeping it afterwards.
//!
//! ```text
//! ates-nats-config --dir DIR [--prefix PREFIX] [--consumer SERVICE=NAME]... [--owner UID:GID]
//! ```
//!
//! Writes `DIR/nats/nats-server.conf` (public keys and permissions only;
//! start `nats-server -c` with it) and `DIR/<identity>/nkey.seed` for each
//! service and for `ates-operator` (give each service only its own file, as
//! `NATS_NKEY_SEED_FILE`). `--prefix` is the `NATS_SUBJECT_PREFIX` the
//! services run with; `--consumer tasks-api=tasks-api-2` allows one more
//! consumer name (`CONSUMER_NAME`) beyond `<service>` and
//! `<service>-rebuild`.

use std::path::PathBuf;
use std::process::ExitCode;

use ates_core::bus::{Naming, permissions};

struct Args {
    dir: PathBuf,
    prefix: Option<String>,
    consumers: Vec<(String, String)>,
    owner: Option<(u32, u32)>,
}

fn parse_args() -> Result<Args, String> {
    let mut dir = None;
    let mut prefix = None;
    let mut consumers = Vec::new();
    let mut owner = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--dir" => dir = Some(PathBuf::from(value()?)),
            "--prefix" => prefix = Some(value()?),
            "--consumer" => {
                let pair = value()?;
                let (service, name) = pair
                    .split_once('=')
                    .ok_or(format!("--consumer {pair}: expected SERVICE=NAME"))?;
                if permissions::role(service).is_none() {
                    return Err(format!(
                        "--consumer {pair}: {service} is not an aTES service"
                    ));
                }
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return Err(format!(
                        "--consumer {pair}: a consumer name is letters, digits, - and _"
                    ));
                }
                consumers.push((service.to_owned(), name.to_owned()));
            }
            "--owner" => {
                let pair = value()?;
                let parsed = pair
                    .split_once(':')
                    .and_then(|(uid, gid)| Some((uid.parse().ok()?, gid.parse().ok()?)));
                owner = Some(parsed.ok_or(format!("--owner {pair}: expected UID:GID"))?);
            }
            "--help" | "-h" => {
                return Err("usage: ates-nats-config --dir DIR [--prefix PREFIX] [--consumer SERVICE=NAME]... [--owner UID:GID]".into());
            }
            other => return Err(format!("unknown argument {other} (see --help)")),
        }
    }
    Ok(Args {
        dir: dir.ok_or("--dir is required (see --help)")?,
        prefix,
        consumers,
        owner,
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let naming = Naming::new(args.prefix.as_deref());
    match permissions::generate(&args.dir, &naming, &args.consumers, args.owner) {
        Ok(generated) => {
            println!(
                "nats-server configuration: {}",
                generated.server_config.display()
            );
            for (identity, path) in generated.seed_files {
                println!("{identity}: NATS_NKEY_SEED_FILE={}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!(
                "cannot write the NATS configuration under {}: {error}",
                args.dir.display()
            );
            ExitCode::FAILURE
        }
    }
}
