//! The `brokergraph` binary itself: every test runs it in a fresh temporary directory, with no
//! `BROKERGRAPH_*` or `DATABASE_URL` variable inherited from the environment.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use brokergraph::auth::{AuthConfig, Role};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

const BINARY: &str = env!("CARGO_BIN_EXE_brokergraph");

/// A safety bound on anything the binary is waited for, so a hang fails instead of blocking.
pub(crate) const BOUND: Duration = Duration::from_secs(60);

/// `brokergraph` in `dir`, with the environment's configuration removed.
fn brokergraph(dir: &Path) -> Command {
    let mut command = Command::new(BINARY);
    command.current_dir(dir);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("BROKERGRAPH_") || name == "DATABASE_URL" {
            command.env_remove(name.as_ref());
        }
    }
    command
}

/// Waits for `child` at most `BOUND`, killing it past that.
pub(crate) fn wait_bounded(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + BOUND;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("brokergraph did not exit within {BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs the command to its end (within the safety bound) and collects its output.
fn run(command: &mut Command) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start brokergraph");
    // Read both pipes on threads of their own, so a full pipe cannot block the child.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut bytes).ok();
        bytes
    });
    let err = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut bytes).ok();
        bytes
    });
    let status = wait_bounded(&mut child);
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `brokergraph <args>` in `dir` and asserts it succeeds; returns its stdout.
fn succeed(dir: &Path, args: &[&str]) -> String {
    let output = run(brokergraph(dir).args(args));
    assert!(
        output.status.success(),
        "brokergraph {args:?} failed: {}\n{}",
        output.status,
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// Runs `brokergraph <args>` and asserts it fails; returns its stderr.
fn fail(command: &mut Command) -> String {
    let output = run(command);
    assert!(
        !output.status.success(),
        "expected a failure; stdout: {}",
        text(&output.stdout)
    );
    text(&output.stderr)
}

#[test]
fn should_print_the_schema_sdl() {
    let dir = tempfile::tempdir().unwrap();
    let printed = succeed(dir.path(), &["schema"]);
    assert_eq!(printed, brokergraph::graphql::sdl());
    assert!(
        !dir.path().join("brokergraph.db").exists(),
        "printing the schema needs no database"
    );
}

#[test]
fn should_print_the_federation_subgraph_sdl_with_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let printed = succeed(dir.path(), &["schema", "--federation"]);
    assert_eq!(printed, brokergraph::graphql::federation::subgraph_sdl());
    assert!(printed.contains("extend schema @link("), "{printed}");
    assert!(
        printed.contains(r#"type Broker implements Node @key(fields: "id") @key(fields: "uuid")"#)
    );
}

#[test]
fn should_migrate_an_sqlite_file_twice() {
    let dir = tempfile::tempdir().unwrap();
    succeed(dir.path(), &["migrate"]);
    assert!(dir.path().join("brokergraph.db").exists());
    succeed(dir.path(), &["migrate"]);
}

/// Rows per table of the SQLite file `database`.
async fn counts(database: &Path) -> [u64; 3] {
    let url = format!("sqlite://{}?mode=ro", database.display());
    let db = sea_orm::Database::connect(url.as_str()).await.unwrap();
    let counts = [
        entity::broker::Entity::find().count(&db).await.unwrap(),
        entity::organization::Entity::find()
            .count(&db)
            .await
            .unwrap(),
        entity::user::Entity::find().count(&db).await.unwrap(),
    ];
    db.close().await.ok();
    counts
}

#[tokio::test]
async fn should_seed_the_demo_data_once_however_often_seed_runs() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("brokergraph.db");
    succeed(dir.path(), &["seed"]);
    let first = counts(&database).await;
    assert!(first.iter().all(|count| *count > 0), "{first:?}");
    succeed(dir.path(), &["seed"]);
    assert_eq!(
        counts(&database).await,
        first,
        "the second seed adds nothing"
    );
}

#[tokio::test]
async fn should_mint_a_token_with_the_generated_development_secret() {
    let dir = tempfile::tempdir().unwrap();
    let broker = uuid::Uuid::now_v7();
    let printed = succeed(
        dir.path(),
        &[
            "token",
            "--role",
            "BROKER_ADMIN",
            "--broker-id",
            &broker.to_string(),
        ],
    );
    let secret_file = dir.path().join("brokergraph.db.jwt-secret");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the secret is the owner's only");
    }
    let secret = std::fs::read_to_string(&secret_file).unwrap();
    let token = printed.trim();
    assert_eq!(token.split('.').count(), 3, "a JWT: {printed}");
    let principal = AuthConfig::default()
        .hs256(secret, true)
        .authenticator
        .verify(token)
        .await
        .expect("the minted token verifies with the file's secret");
    assert_eq!(principal.role, Role::BrokerAdmin);
    assert_eq!(principal.broker_id, Some(broker));
    assert_eq!(principal.organization_id, None);
}

#[test]
fn should_refuse_to_mint_a_broker_token_without_a_broker_id() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = fail(brokergraph(dir.path()).args(["token", "--role", "BROKER_ADMIN"]));
    assert!(stderr.contains("--broker-id"), "{stderr}");
}

#[test]
fn should_refuse_to_mint_a_token_with_only_a_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/keys/rsa_public.pem"
    );
    let stderr = fail(
        brokergraph(dir.path())
            .env("BROKERGRAPH_JWT_PUBLIC_KEY", key)
            .args(["token", "--role", "PLATFORM_ADMIN"]),
    );
    assert!(stderr.contains("cannot mint"), "{stderr}");
    assert!(!dir.path().join("brokergraph.db.jwt-secret").exists());
}

#[test]
fn should_refuse_to_serve_cors_for_any_origin_with_credentials_or_a_malformed_origin() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = fail(brokergraph(dir.path()).args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--cors-allow-origin",
        "*",
        "--cors-allow-credentials",
        "true",
    ]));
    assert!(
        stderr.contains("cannot be combined with --cors-allow-credentials"),
        "{stderr}"
    );
    let stderr = fail(
        brokergraph(dir.path())
            .env(
                "BROKERGRAPH_CORS_ALLOW_ORIGINS",
                "https://dash.example.com,dash.example.com",
            )
            .args(["serve", "--listen", "127.0.0.1:0"]),
    );
    assert!(
        stderr.contains("`dash.example.com` is not an origin"),
        "{stderr}"
    );
    // Refused before anything was written: no database, no development key.
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

#[test]
fn should_refuse_to_serve_postgres_without_a_configured_key() {
    if !crate::support::postgres_configured() {
        eprintln!("TEST_DATABASE_URL not set: PostgreSQL test skipped");
        return;
    }
    let url = std::env::var("TEST_DATABASE_URL").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stderr = fail(brokergraph(dir.path()).env("DATABASE_URL", url).args([
        "serve",
        "--listen",
        "127.0.0.1:0",
    ]));
    assert!(stderr.contains("BROKERGRAPH_JWT_SECRET"), "{stderr}");
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "no development key is generated for PostgreSQL"
    );
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Kills the server if the test fails before it stops it.
pub(crate) struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            self.0.kill().ok();
            self.0.wait().ok();
        }
    }
}

/// A running `brokergraph serve` on a free loopback port.
pub(crate) struct Running {
    pub server: Server,
    pub address: String,
    /// The development token it printed.
    pub token: String,
    /// Its stdout (where it logs), line by line, from after the token on.
    pub lines: mpsc::Receiver<String>,
}

/// Starts `brokergraph serve` in `dir` with `args` added, and waits for its token.
pub(crate) fn serve(dir: &Path, args: &[&str]) -> Running {
    let address = format!("127.0.0.1:{}", free_port());
    let mut server = Server(
        brokergraph(dir)
            .args(["serve", "--listen", &address])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start brokergraph serve"),
    );

    // Read stdout on a thread of its own (to the end, so the pipe never fills up).
    let stdout = server.0.stdout.take().expect("stdout");
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + BOUND;
    let token = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = received
            .recv_timeout(left)
            .expect("the development token is printed within the safety bound");
        if let Some((_, token)) = line.split_once("Authorization: Bearer ") {
            break token.trim().to_string();
        }
    };
    Running {
        server,
        address,
        token,
        lines: received,
    }
}

#[tokio::test]
async fn should_serve_the_seeded_embedded_database_and_stop_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let Running {
        mut server,
        address,
        token,
        ..
    } = serve(dir.path(), &[]);

    let base = format!("http://{address}");
    let http = reqwest::Client::builder().timeout(BOUND).build().unwrap();
    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    let page = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let content_type = page.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&token),
        "the playground is pre-filled with the token"
    );

    let answer = http
        .post(format!("{base}/graphql"))
        .bearer_auth(&token)
        .json(&json!({ "query": "{ brokers { totalCount } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert!(body.get("errors").is_none(), "{body}");
    let brokers = body["data"]["brokers"]["totalCount"].as_u64().unwrap();
    assert!(brokers >= 3, "demo data is seeded: {body}");

    // The first start syncs the demo's brokers with the sandbox: drift shows at once.
    let query = "{ brokers { edges { node { lastSyncRun { status startedBy }
        organizations(first: 100) { edges { node { tenant { sync { state } } } } } } } } }";
    let deadline = Instant::now() + BOUND;
    loop {
        let body: Value = http
            .post(format!("{base}/graphql"))
            .bearer_auth(&token)
            .json(&json!({ "query": query }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let edges = body["data"]["brokers"]["edges"].as_array().unwrap().clone();
        let synced = edges.iter().all(|edge| {
            edge["node"]["lastSyncRun"] == json!({ "status": "SUCCEEDED", "startedBy": "demo" })
        });
        if synced {
            let states: Vec<String> = edges
                .iter()
                .flat_map(|edge| {
                    edge["node"]["organizations"]["edges"]
                        .as_array()
                        .unwrap()
                        .clone()
                })
                .filter_map(|org| {
                    org["node"]["tenant"]["sync"]["state"]
                        .as_str()
                        .map(str::to_owned)
                })
                .collect();
            for state in ["IN_SYNC", "DRIFTED", "MISSING"] {
                assert!(
                    states.iter().any(|s| s == state),
                    "no {state} tenant: {body}"
                );
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the demo's brokers were not synced: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let pid = server.0.id().to_string();
    let signal = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(signal.success());
    let status = wait_bounded(&mut server.0);
    assert!(
        status.success(),
        "a SIGTERM stops the server cleanly: {status}"
    );
}

#[test]
fn should_refuse_to_serve_a_trusted_documents_manifest_whose_hash_does_not_match() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("persisted-documents.json");
    // The SHA-256 of `{ users { totalCount } }`, given to another document.
    let wrong = brokergraph::graphql::exec::documents::to_hex(
        &brokergraph::graphql::exec::documents::sha256("{ users { totalCount } }"),
    );
    std::fs::write(
        &manifest,
        serde_json::json!({ wrong: "{ brokers { totalCount } }" }).to_string(),
    )
    .unwrap();
    let stderr = fail(brokergraph(dir.path()).args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--trusted-documents",
        manifest.to_str().unwrap(),
    ]));
    assert!(stderr.contains("does not match its text"), "{stderr}");
    let stderr = fail(brokergraph(dir.path()).args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--require-trusted-documents",
    ]));
    assert!(stderr.contains("--trusted-documents"), "{stderr}");
}

/// `brokergraph sync` (issue 13 item 5) against a local fake of Partner Center, on the
/// embedded database: plain progress lines off a terminal, a summary, the run stored.
#[tokio::test(flavor = "multi_thread")]
async fn should_sync_a_broker_from_the_command_line_with_progress_and_a_summary() {
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let dir = tempfile::tempdir().unwrap();
    succeed(dir.path(), &["migrate"]);
    let database = dir.path().join("brokergraph.db");
    let url = format!("sqlite://{}?mode=rw", database.display());
    let db = sea_orm::Database::connect(url.as_str()).await.unwrap();
    let broker = crate::fixtures::broker(&db, "contoso", "Contoso Cloud").await;
    let organization = crate::fixtures::organization(&db, &broker, "Acme", "DE").await;
    let linked = crate::fixtures::tenant(&db, &organization).await;
    let other = uuid::Uuid::new_v4();
    db.close().await.ok();

    let customer = |tenant_id: uuid::Uuid, name: &str, domain: &str| {
        json!({ "id": tenant_id,
                "companyProfile": { "tenantId": tenant_id, "domain": domain, "companyName": name } })
    };
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/customers"))
        .and(header("MS-ContinuationToken", "next"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "items": [customer(other, "Globex", "globex.onmicrosoft.com")]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/customers"))
        .and(header("Authorization", "Bearer cli-t0ken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "items": [customer(linked.microsoft_tenant_id, "Acme", &linked.primary_domain)],
            "links": { "next": { "headers": [{ "key": "MS-ContinuationToken", "value": "next" }] } }
        })))
        .mount(&server)
        .await;
    let uri = server.uri();
    let root = dir.path().to_owned();
    let sync = move |args: Vec<String>| {
        let root = root.clone();
        let uri = uri.clone();
        std::thread::spawn(move || {
            let mut command = brokergraph(&root);
            command
                .arg("sync")
                .args(&args)
                .args(["--partner-center-url", &uri])
                .args(["--partner-center-token", "cli-t0ken"])
                .args(["--partner-center-attempts", "1"]);
            run(&mut command)
        })
        .join()
        .unwrap()
    };

    let output = sync(vec!["--broker".into(), "contoso".into()]);

    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        text(&output.stderr)
    );
    assert!(
        stdout.contains("contoso: page 1 read (1 customers so far)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("contoso: page 2 read (2 customers so far)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "  contoso: 2 customers, 1 in sync, 0 drifted, 0 missing, 0 need a customer-consent service account, 1 unlinked"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("cli-t0ken") && !text(&output.stderr).contains("cli-t0ken"));
    let db = sea_orm::Database::connect(url.as_str()).await.unwrap();
    let runs = entity::sync_run::Entity::find().all(&db).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].started_by, "cli");
    assert_eq!(runs[0].unlinked, 1);
    // A second broker makes the process-wide token ambiguous: that sync fails, loudly.
    let second = crate::fixtures::broker(&db, "fabrikam", "Fabrikam").await;
    db.close().await.ok();

    let output = sync(Vec::new());

    assert!(!output.status.success());
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains(&format!("  {}: failed:", second.slug)),
        "{stdout}"
    );
    assert!(stdout.contains("PARTNER_CENTER_NOT_CONFIGURED"), "{stdout}");
    assert!(text(&output.stderr).contains("synchronizations failed"));
    let refused = sync(vec!["--broker".into(), "nosuch".into()]);
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains("no broker has the slug `nosuch`"));
}

/// `serve --sync-interval` synchronizes every broker periodically (here with the built-in
/// sandbox and the seeded demo brokers); an interval of zero is refused.
#[tokio::test]
async fn should_sync_every_broker_periodically_while_serving() {
    let dir = tempfile::tempdir().unwrap();
    let refused = fail(brokergraph(dir.path()).args(["serve", "--sync-interval", "0s"]));
    assert!(refused.contains("more than zero"), "{refused}");
    let Running {
        server: _server,
        address,
        token,
        ..
    } = serve(dir.path(), &["--sync-interval", "1s"]);

    let http = reqwest::Client::builder().timeout(BOUND).build().unwrap();
    let query = "{ brokers { edges { node { slug lastSyncRun { status startedBy } } } } }";
    let deadline = Instant::now() + BOUND;
    loop {
        let body: Value = http
            .post(format!("http://{address}/graphql"))
            .bearer_auth(&token)
            .json(&json!({ "query": query }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let edges = body["data"]["brokers"]["edges"].as_array().unwrap().clone();
        assert!(!edges.is_empty(), "{body}");
        let synced = edges.iter().all(|edge| {
            edge["node"]["lastSyncRun"]
                == json!({ "status": "SUCCEEDED", "startedBy": "scheduler" })
        });
        if synced {
            break;
        }
        assert!(Instant::now() < deadline, "not every broker synced: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
