//! `--database-read-url` against a real streaming replica (issue 16, item 2): the test
//! `initdb`s a PostgreSQL primary of its own on a free port, `pg_basebackup -R`s a standby from
//! it on another, runs `brokergraph serve` on both, and removes both clusters afterwards.
//! With replay paused on the standby, a mutation's payload shows the new value (the primary)
//! while a query shows the old one (the replica); resumed, the query catches up.
//!
//! PostgreSQL only (SQLite has no replicas); skipped without `TEST_DATABASE_URL` (outside CI),
//! like every PostgreSQL test. It needs PostgreSQL's server programs (Debian's `postgresql`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use brokergraph::auth::Role;
use brokergraph::graphql::relay::ids::{self, Kind};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::fixtures;
use crate::support::{CREDENTIAL_KEY, Process, SECRET, post_graphql, postgres_configured, token};

/// The newest PostgreSQL's programs (`/usr/lib/postgresql/<version>/bin`).
fn postgres_bin() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let version = std::fs::read_dir(root)
        .expect("PostgreSQL's server programs in /usr/lib/postgresql (apt-get install postgresql)")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .max()
        .expect("a PostgreSQL version in /usr/lib/postgresql");
    root.join(version.to_string()).join("bin")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// A PostgreSQL program, run as `postgres` when the test runs as root (the server refuses
/// to run as root); it must succeed.
fn pg(program: &str, args: &[&str]) {
    let path = postgres_bin().join(program);
    let mut command = if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(&path);
        command
    } else {
        Command::new(&path)
    };
    let out = command
        .args(args)
        .output()
        .expect("run a PostgreSQL program");
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn append(path: &Path, text: &str) {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// A primary and its streaming standby, each a cluster of its own in a temporary directory;
/// both stopped (immediately) and removed when dropped, also when the test fails.
struct Replicated {
    dir: tempfile::TempDir,
    primary_port: u16,
    standby_port: u16,
    standby_running: bool,
}

impl Replicated {
    fn start() -> Replicated {
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            let status = Command::new("chown")
                .args(["postgres:postgres", &dir.path().display().to_string()])
                .status()
                .unwrap();
            assert!(
                status.success(),
                "chown the clusters' directory to postgres"
            );
        }
        let cluster = Replicated {
            primary_port: free_port(),
            standby_port: free_port(),
            standby_running: false,
            dir,
        };
        let primary = cluster.data("primary");
        pg(
            "initdb",
            &[
                "-D",
                &primary,
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        let sockets = cluster.dir.path().display().to_string();
        append(
            &cluster.dir.path().join("primary/postgresql.conf"),
            &format!(
                "\nport = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{sockets}'\n\
                 wal_level = replica\nmax_wal_senders = 4\nfsync = off\n",
                cluster.primary_port
            ),
        );
        append(
            &cluster.dir.path().join("primary/pg_hba.conf"),
            "\nhost replication all 127.0.0.1/32 trust\n",
        );
        pg(
            "pg_ctl",
            &[
                "-D",
                &primary,
                "-l",
                &cluster.data("primary.log"),
                "-w",
                "start",
            ],
        );
        let standby = cluster.data("standby");
        let port = cluster.primary_port.to_string();
        pg(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-D",
                &standby,
                "-R",
                "-X",
                "stream",
            ],
        );
        append(
            &cluster.dir.path().join("standby/postgresql.conf"),
            &format!("\nport = {}\n", cluster.standby_port),
        );
        let mut cluster = cluster;
        pg(
            "pg_ctl",
            &[
                "-D",
                &standby,
                "-l",
                &cluster.data("standby.log"),
                "-w",
                "start",
            ],
        );
        cluster.standby_running = true;
        cluster
    }

    fn data(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn url(port: u16) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/postgres")
    }

    fn stop_standby(&mut self) {
        pg(
            "pg_ctl",
            &["-D", &self.data("standby"), "-m", "fast", "-w", "stop"],
        );
        self.standby_running = false;
    }
}

impl Drop for Replicated {
    fn drop(&mut self) {
        // Best effort, never panicking in a drop: the directory goes with `dir`.
        for (cluster, running) in [("standby", self.standby_running), ("primary", true)] {
            if running {
                let data = self.data(cluster);
                let bin = postgres_bin().join("pg_ctl");
                let mut command = Command::new("runuser");
                if is_root() {
                    command.args(["-u", "postgres", "--"]).arg(&bin);
                } else {
                    command = Command::new(&bin);
                }
                let _ = command
                    .args(["-D", &data, "-m", "immediate", "-w", "stop"])
                    .output();
            }
        }
    }
}

const READ: &str = "query($id: ID!) { node(id: $id) { ... on Organization { name } } }";
const RENAME: &str = "mutation($id: ID!, $name: String!) {
    updateOrganization(input: { id: $id, name: $name }) { organization { name } } }";

/// The organization's name as the server answers `query` (which must succeed).
async fn name_of(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> String {
    let body = post_graphql(http, url, token, query, variables)
        .await
        .unwrap();
    assert!(body.get("errors").is_none(), "{body}");
    let data = &body["data"];
    data["node"]["name"]
        .as_str()
        .or_else(|| data["updateOrganization"]["organization"]["name"].as_str())
        .unwrap_or_else(|| panic!("no name in {body}"))
        .to_owned()
}

/// Asks until the (replica-read) query answers `expected`.
async fn until_read(http: &reqwest::Client, url: &str, token: &str, id: &str, expected: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let name = name_of(http, url, token, READ, json!({ "id": id })).await;
        if name == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the replica never caught up: still {name}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn should_read_queries_from_the_replica_and_mutations_from_the_primary() {
    if !postgres_configured() {
        eprintln!("TEST_DATABASE_URL not set: PostgreSQL test skipped");
        return;
    }
    let started = Instant::now();
    let mut clusters = Replicated::start();
    eprintln!(
        "read replicas: primary and standby up in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let (primary_url, standby_url) = (
        Replicated::url(clusters.primary_port),
        Replicated::url(clusters.standby_port),
    );
    let logs = tempfile::tempdir().unwrap();
    let args: Vec<String> = [
        "serve",
        "--database-url",
        &primary_url,
        "--database-read-url",
        &standby_url,
        "--jwt-secret",
        SECRET,
        "--credential-key",
        CREDENTIAL_KEY,
    ]
    .map(String::from)
    .to_vec();
    let server = Process::start(args, logs.path().join("server.log")).await;
    let url = server.url("/graphql");

    let primary = sea_orm::Database::connect(primary_url.as_str())
        .await
        .unwrap();
    let broker = fixtures::broker(&primary, "contoso", "Contoso Cloud").await;
    let organization = fixtures::organization(&primary, &broker, "Before", "DE").await;
    let id = ids::encode(Kind::Organization, organization.id).0;
    let admin = token(Role::PlatformAdmin, None, None, "root");
    let http = reqwest::Client::new();
    // The server's migrations and the rows reach the standby.
    until_read(&http, &url, &admin, &id, "Before").await;

    let standby = sea_orm::Database::connect(standby_url.as_str())
        .await
        .unwrap();
    standby
        .execute_unprepared("select pg_wal_replay_pause()")
        .await
        .unwrap();
    let payload = name_of(
        &http,
        &url,
        &admin,
        RENAME,
        json!({ "id": id, "name": "After" }),
    )
    .await;
    assert_eq!(payload, "After", "a mutation's payload reads the primary");
    let read = name_of(&http, &url, &admin, READ, json!({ "id": id })).await;
    assert_eq!(read, "Before", "a query reads the (paused) replica");

    // In a batch, the query after a mutation reads the primary: it may read what it wrote.
    let batch = http
        .post(&url)
        .bearer_auth(&admin)
        .json(&json!([
            { "query": RENAME, "variables": { "id": id, "name": "Batched" } },
            { "query": READ, "variables": { "id": id } },
        ]))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(batch[1]["data"]["node"]["name"], "Batched", "{batch}");
    let read = name_of(&http, &url, &admin, READ, json!({ "id": id })).await;
    assert_eq!(
        read, "Before",
        "a query on its own still reads the paused replica"
    );

    standby
        .execute_unprepared("select pg_wal_replay_resume()")
        .await
        .unwrap();
    until_read(&http, &url, &admin, &id, "Batched").await;
    standby.close().await.ok();
    let ready = http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), reqwest::StatusCode::OK);

    // A replica that stops answering: not ready, and queries read the primary meanwhile.
    clusters.stop_standby();
    let ready = http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["reason"], "read replica unreachable", "{body}");
    assert_eq!(body["replicas"], json!([0]), "{body}");
    name_of(
        &http,
        &url,
        &admin,
        RENAME,
        json!({ "id": id, "name": "Primary" }),
    )
    .await;
    let read = name_of(&http, &url, &admin, READ, json!({ "id": id })).await;
    assert_eq!(
        read, "Primary",
        "with the replica down, queries read the primary"
    );
    eprintln!(
        "read replicas: done in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    drop(server);
}
