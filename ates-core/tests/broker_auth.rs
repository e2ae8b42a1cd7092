//! Broker identities against a real `nats-server` with authorization: user
//! and password (from the environment, a file or the URL), a token, the
//! generated per-service nkeys and their permissions, TLS with a
//! certificate made here, and a refused credential that leaves the
//! service running and says why.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_nats::jetstream;
use ates_core::bus::{
    BusConfig, BusMigrator, ConsumerSettings, EventBus, EventHandler, HandlerError, IncomingEvent,
    Naming, consumer, dead_letter,
};
use ates_core::config::bus_settings;
use ates_core::testing::{NatsServer, TestBroker, TestDatabase, eventually, free_port};
use ates_core::unit_of_work::UnitOfWork;
use event_schemas::accounts::AccountCreatedV1;
use event_schemas::tasks::TaskCompletedV1;
use event_schemas::{Envelope, EventPayload};
use sea_orm_migration::MigratorTrait;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(20);

/// A bus configuration read from these variables, as a service reads its
/// environment.
fn settings(service: &str, variables: &[(&str, String)]) -> anyhow::Result<BusConfig> {
    let variables: HashMap<String, String> = variables
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect();
    bus_settings(service, |name| variables.get(name).cloned())
}

async fn connect(config: &BusConfig) -> EventBus {
    ates_core::telemetry::init_for_tests();
    EventBus::connect(config).await.expect("the bus is set up")
}

async fn connected(bus: &EventBus) {
    eventually(WAIT, "the broker to accept the connection", || async {
        bus.is_connected().then_some(())
    })
    .await;
}

async fn refused(bus: &EventBus) -> String {
    eventually(WAIT, "the broker to refuse the credentials", || async {
        bus.not_ready().filter(|reason| reason.contains("refused"))
    })
    .await
}

/// A JetStream context that gives up on an unanswered request quickly:
/// the broker drops a publish the identity may not make, so its ack never
/// comes.
fn impatient(bus: &EventBus) -> jetstream::Context {
    jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(2))
        .build(bus.client().clone())
}

/// Publishes an event on its own subject and waits for JetStream's ack.
async fn publish<T: EventPayload>(
    bus: &EventBus,
    envelope: &Envelope<T>,
) -> Result<(), async_nats::Error> {
    let subject = bus.naming().wire_subject(&Naming::event_subject(
        &envelope.event_name,
        envelope.event_version,
    ));
    let payload = serde_json::to_vec(envelope).expect("serializes");
    impatient(bus)
        .publish(subject, payload.into())
        .await?
        .await?;
    Ok(())
}

fn completion() -> Envelope<TaskCompletedV1> {
    Envelope::new("tasks-api", TaskCompletedV1::example())
}

#[tokio::test]
async fn user_and_password_from_variables_a_file_or_the_url_are_accepted_and_a_wrong_one_is_refused()
 {
    let server = NatsServer::start_with(&["--user", "tasks-api", "--pass", "s3cret-pass"]).await;
    let url = server.url();
    let address = url.trim_start_matches("nats://").to_owned();

    let from_variables = connect(
        &settings(
            "tasks-api",
            &[
                ("NATS_URL", url.clone()),
                ("NATS_USER", "tasks-api".into()),
                ("NATS_PASSWORD", "s3cret-pass".into()),
            ],
        )
        .expect("valid settings"),
    )
    .await;
    connected(&from_variables).await;
    from_variables
        .ensure_own_stream()
        .await
        .expect("its stream");
    publish(&from_variables, &completion())
        .await
        .expect("published");
    assert_eq!(from_variables.not_ready(), None);

    let dir = tempfile::tempdir().expect("a directory");
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, "s3cret-pass\n").expect("written");
    let from_file = connect(
        &settings(
            "tasks-api",
            &[
                ("NATS_URL", url.clone()),
                ("NATS_USER", "tasks-api".into()),
                ("NATS_PASSWORD_FILE", password_file.display().to_string()),
            ],
        )
        .expect("valid settings"),
    )
    .await;
    connected(&from_file).await;

    let in_url = settings(
        "tasks-api",
        &[(
            "NATS_URL",
            format!("nats://tasks-api:s3cret%2Dpass@{address}"),
        )],
    )
    .expect("valid settings");
    assert_eq!(in_url.nats_url, url, "the userinfo leaves the URL");
    assert!(!format!("{in_url:?}").contains("s3cret"), "{in_url:?}");
    let from_url = connect(&in_url).await;
    connected(&from_url).await;
    publish(&from_url, &completion()).await.expect("published");

    let wrong = connect(
        &settings(
            "tasks-api",
            &[
                ("NATS_URL", url.clone()),
                ("NATS_USER", "tasks-api".into()),
                ("NATS_PASSWORD", "not-the-password".into()),
            ],
        )
        .expect("valid settings"),
    )
    .await;
    assert_eq!(
        refused(&wrong).await,
        format!("broker (NATS at {url}) refused the credentials: authorization violation")
    );
    assert!(!wrong.is_connected());
    let anonymous =
        connect(&settings("tasks-api", &[("NATS_URL", url.clone())]).expect("valid")).await;
    refused(&anonymous).await;

    let two = settings(
        "tasks-api",
        &[
            (
                "NATS_URL",
                format!("nats://tasks-api:s3cret-pass@{address}"),
            ),
            ("NATS_TOKEN", "t0ken".into()),
        ],
    )
    .expect_err("two credentials");
    assert!(
        two.to_string().contains("more than one NATS credential")
            && !two.to_string().contains("s3cret"),
        "{two}"
    );
    let half =
        settings("tasks-api", &[("NATS_USER", "tasks-api".into())]).expect_err("no password");
    assert!(half.to_string().contains("NATS_PASSWORD"), "{half}");
}

#[tokio::test]
async fn a_token_is_accepted_and_a_wrong_one_is_refused() {
    let server = NatsServer::start_with(&["--auth", "t0ken-for-ates"]).await;
    let right = connect(
        &settings(
            "tasks-api",
            &[
                ("NATS_URL", server.url()),
                ("NATS_TOKEN", "t0ken-for-ates".into()),
            ],
        )
        .expect("valid settings"),
    )
    .await;
    connected(&right).await;
    right.ensure_own_stream().await.expect("its stream");
    publish(&right, &completion()).await.expect("published");

    let wrong = connect(
        &settings(
            "tasks-api",
            &[("NATS_URL", server.url()), ("NATS_TOKEN", "guess".into())],
        )
        .expect("valid settings"),
    )
    .await;
    let reason = refused(&wrong).await;
    assert!(!reason.contains("guess"), "{reason}");
}

/// Counts the account events it applies.
struct Counter(AtomicUsize);

impl EventHandler for Counter {
    fn subscriptions(&self) -> Vec<(&'static str, u32)> {
        vec![(AccountCreatedV1::NAME, AccountCreatedV1::VERSION)]
    }

    async fn handle(&self, _work: &UnitOfWork, _event: &IncomingEvent) -> Result<(), HandlerError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn each_service_publishes_only_its_own_domain_and_manages_only_its_own_stream() {
    let broker = TestBroker::secured().await;
    // tasks-api through NATS_NKEY_SEED_FILE, as it reads its environment.
    let tasks = connect(
        &settings(
            "tasks-api",
            &[
                ("NATS_URL", broker.url().to_owned()),
                (
                    "NATS_NKEY_SEED_FILE",
                    broker.seed_file("tasks-api").display().to_string(),
                ),
            ],
        )
        .expect("valid settings"),
    )
    .await;
    connected(&tasks).await;

    // A consumer of a stream that does not exist yet waits for it.
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    BusMigrator::up(&db, None).await.expect("migrations");
    let counter = Arc::new(Counter(AtomicUsize::new(0)));
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    tokio::spawn(consumer::run(
        tasks.clone(),
        db.clone(),
        counter.clone(),
        ConsumerSettings::new("tasks-api"),
        shutdown.clone(),
    ));

    let auth = connect(&broker.bus_config("auth-api")).await;
    connected(&auth).await;
    auth.ensure_own_stream()
        .await
        .expect("auth-api creates ACCOUNTS");
    let forged = Envelope::new("tasks-api", AccountCreatedV1::example());
    publish(&auth, &forged)
        .await
        .expect("auth-api publishes accounts");
    let real = Envelope::new("auth-api", AccountCreatedV1::example());
    publish(&auth, &real)
        .await
        .expect("auth-api publishes accounts");
    eventually(WAIT, "tasks-api to apply the account event", || async {
        (counter.0.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    // The forged one went to tasks-api's dead letters (its own subjects).
    let operator = connect(&broker.bus_config("test-operator")).await;
    let letters = eventually(WAIT, "one dead letter", || async {
        let letters = dead_letter::list(&operator, "tasks-api").await.ok()?;
        (letters.len() == 1).then_some(letters)
    })
    .await;
    assert!(
        letters[0].reason.contains("forged origin"),
        "{}",
        letters[0].reason
    );
    assert_eq!(counter.0.load(Ordering::SeqCst), 1);

    tasks
        .ensure_own_stream()
        .await
        .expect("tasks-api creates TASKS");
    publish(&tasks, &completion())
        .await
        .expect("tasks-api publishes tasks");
    let account = Envelope::new("auth-api", AccountCreatedV1::example());
    assert!(
        publish(&tasks, &account).await.is_err(),
        "tasks-api publishes accounts"
    );
    assert!(
        publish(&auth, &completion()).await.is_err(),
        "auth-api publishes tasks"
    );
    let analytics = connect(&broker.bus_config("analytics-api")).await;
    connected(&analytics).await;
    analytics
        .ensure_own_stream()
        .await
        .expect("nothing to create");
    assert!(
        publish(&analytics, &completion()).await.is_err(),
        "analytics publishes tasks"
    );
    assert!(
        publish(&analytics, &account).await.is_err(),
        "analytics publishes accounts"
    );

    // Nobody changes another's stream, nor deletes or purges its own.
    let js = impatient(&tasks);
    let mut accounts_config = js
        .get_stream("ACCOUNTS")
        .await
        .expect("tasks-api may look it up")
        .cached_info()
        .config
        .clone();
    accounts_config.subjects.push("tasks.>".into());
    assert!(
        js.update_stream(&accounts_config).await.is_err(),
        "update ACCOUNTS"
    );
    assert!(
        js.delete_stream("ACCOUNTS").await.is_err(),
        "delete ACCOUNTS"
    );
    assert!(
        js.delete_stream("TASKS").await.is_err(),
        "delete its own TASKS"
    );
    assert!(
        js.get_stream("TASKS")
            .await
            .expect("TASKS")
            .purge()
            .await
            .is_err(),
        "purge TASKS"
    );
    let mut with_source = accounts_config.clone();
    with_source.name = "STOLEN".into();
    with_source.subjects = vec![];
    with_source.sources = Some(vec![jetstream::stream::Source {
        name: "TASKS".into(),
        ..Default::default()
    }]);
    assert!(
        js.create_stream(with_source).await.is_err(),
        "a stream of its own"
    );

    // What the broker kept: exactly the events the owners published.
    let op = impatient(&operator);
    let stream_messages = |name: &'static str| {
        let op = op.clone();
        async move {
            op.get_stream(name)
                .await
                .expect("the stream")
                .info()
                .await
                .expect("info")
                .state
                .messages
        }
    };
    assert_eq!(stream_messages("ACCOUNTS").await, 2);
    assert_eq!(stream_messages("TASKS").await, 1);
    assert!(op.get_stream("STOLEN").await.is_err());
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate
/// signed by it, made with `openssl`.
struct Certificates {
    ca: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
}

fn make_certificates(dir: &Path) -> Certificates {
    let path = |name: &str| dir.join(name).display().to_string();
    let openssl = |args: &[&str]| {
        let status = std::process::Command::new("openssl")
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl runs (apt-get install openssl)");
        assert!(status.success(), "openssl {args:?}");
    };
    let (ca, ca_key) = (path("ca.pem"), path("ca.key"));
    let (cert, key, csr) = (path("server.pem"), path("server.key"), path("server.csr"));
    let extensions = path("server.ext");
    std::fs::write(
        &extensions,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .expect("written");
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=aTES test CA",
        "-keyout",
        &ca_key,
        "-out",
        &ca,
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        &key,
        "-out",
        &csr,
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &extensions,
        "-out",
        &cert,
    ]);
    let (client_cert, client_key, client_csr) =
        (path("client.pem"), path("client.key"), path("client.csr"));
    let client_extensions = path("client.ext");
    std::fs::write(
        &client_extensions,
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    )
    .expect("written");
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=tasks-api",
        "-keyout",
        &client_key,
        "-out",
        &client_csr,
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &client_csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &client_extensions,
        "-out",
        &client_cert,
    ]);
    Certificates {
        ca,
        server_cert: cert,
        server_key: key,
        client_cert,
        client_key,
    }
}

#[tokio::test]
async fn tls_with_a_ca_file_and_a_client_certificate_reaches_a_broker_whose_certificates_the_test_made()
 {
    let dir = tempfile::tempdir().expect("a directory");
    let certificates = make_certificates(dir.path());
    let server = NatsServer::start_with(&[
        "--tls",
        "--tlscert",
        &certificates.server_cert,
        "--tlskey",
        &certificates.server_key,
        "--user",
        "tasks-api",
        "--pass",
        "tls-pass",
    ])
    .await;
    let config = settings(
        "tasks-api",
        &[
            (
                "NATS_URL",
                format!("tls://tasks-api:tls-pass@127.0.0.1:{}", server.port()),
            ),
            ("NATS_TLS_CA_FILE", certificates.ca.clone()),
        ],
    )
    .expect("valid settings");
    let bus = connect(&config).await;
    connected(&bus).await;
    bus.ensure_own_stream().await.expect("its stream");
    publish(&bus, &completion())
        .await
        .expect("published over TLS");

    // A broker that also verifies the client's certificate.
    let verifying = NatsServer::start_with(&[
        "--tlsverify",
        "--tlscert",
        &certificates.server_cert,
        "--tlskey",
        &certificates.server_key,
        "--tlscacert",
        &certificates.ca,
    ])
    .await;
    let config = settings(
        "tasks-api",
        &[
            ("NATS_URL", verifying.url()),
            ("NATS_TLS_CA_FILE", certificates.ca.clone()),
            ("NATS_TLS_CERT_FILE", certificates.client_cert.clone()),
            ("NATS_TLS_KEY_FILE", certificates.client_key.clone()),
        ],
    )
    .expect("valid settings");
    let bus = connect(&config).await;
    connected(&bus).await;
    bus.ensure_own_stream().await.expect("its stream");
    publish(&bus, &completion())
        .await
        .expect("published with a client certificate");
    // Without the client certificate the broker refuses the handshake.
    let without = async_nats::ConnectOptions::new()
        .add_root_certificates(certificates.ca.clone().into())
        .require_tls(true)
        .connect(verifying.url())
        .await;
    assert!(without.is_err(), "connected without a client certificate");
    let half = settings(
        "tasks-api",
        &[("NATS_TLS_CERT_FILE", certificates.client_cert.clone())],
    )
    .expect_err("a certificate without its key");
    assert!(half.to_string().contains("NATS_TLS_KEY_FILE"), "{half}");
}

#[test]
fn the_stream_replica_count_is_one_to_five_and_one_by_default() {
    let url = ("NATS_URL", "nats://127.0.0.1:4222".to_owned());
    let replicas = |value: Option<&str>| {
        let mut variables = vec![url.clone()];
        variables.extend(value.map(|value| ("NATS_STREAM_REPLICAS", value.to_owned())));
        settings("tasks-api", &variables).map(|config| config.stream_replicas)
    };
    assert_eq!(replicas(None).unwrap(), 1);
    assert_eq!(replicas(Some("3")).unwrap(), 3);
    for wrong in ["0", "6", "three", "-1", ""] {
        let error = replicas(Some(wrong)).unwrap_err().to_string();
        assert!(error.contains("NATS_STREAM_REPLICAS"), "{wrong}: {error}");
    }
}

#[tokio::test]
async fn a_seed_list_reaches_the_node_that_answers() {
    let server = NatsServer::start().await;
    let seeds = format!("nats://127.0.0.1:{}, {}", free_port(), server.url());
    let config = settings("tasks-api", &[("NATS_URL", seeds)]).unwrap();
    let bus = connect(&config).await;
    connected(&bus).await;
    bus.client().flush().await.unwrap();
}
