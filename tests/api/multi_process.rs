//! Three real `brokergraph serve` processes on one PostgreSQL database, behaving as one server
//! under concurrency and faults (issue 16, item 1): one idempotency key sent to every replica
//! at once, 20 concurrent links of one tenant ID, the audit trail, a replica killed (SIGKILL)
//! mid-mutation, and a rolling restart (SIGTERM) under load.
//!
//! PostgreSQL only: replicas share a database server, and the embedded SQLite file is one
//! process's (a second process on it would share a file lock, not a server). Without
//! `TEST_DATABASE_URL` the test is skipped (outside CI; in CI it must be set).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, head, post};
use brokergraph::auth::Role;
use brokergraph::graphql::relay::ids::{self, Kind};
use entity::{audit_event, subscription, tenant};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::fixtures;
use crate::support::{CREDENTIAL_KEY, OwnDatabase, Process, SECRET, post_graphql, token};

/// A fake Partner Center, counting the customers it creates. Like the real one, a create
/// with an `MS-RequestId` it has seen returns the customer it created then.
#[derive(Default)]
struct FakePartnerCenter {
    /// `POST /v1/customers` calls, retries included.
    creates: AtomicUsize,
    /// The customer created for each `MS-RequestId`.
    customers: std::sync::Mutex<HashMap<String, Uuid>>,
    /// While set, a create answers only after a long pause (the customer exists meanwhile).
    slow: AtomicBool,
    /// Notified when a create arrives.
    arrived: Notify,
}

impl FakePartnerCenter {
    fn customers(&self) -> usize {
        self.customers.lock().unwrap().len()
    }
}

fn customer_json(tenant_id: Uuid, domain: &str) -> Value {
    json!({
        "id": tenant_id,
        "companyProfile": { "tenantId": tenant_id, "domain": domain, "companyName": "Customer" },
        "billingProfile": { "companyName": "Customer", "email": "admin@customer.example" }
    })
}

async fn create_customer(
    State(fake): State<Arc<FakePartnerCenter>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    fake.creates.fetch_add(1, Ordering::SeqCst);
    let request_id = headers
        .get("MS-RequestId")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let tenant_id = *fake
        .customers
        .lock()
        .unwrap()
        .entry(request_id)
        .or_insert_with(Uuid::new_v4);
    fake.arrived.notify_waiters();
    if fake.slow.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    let domain = body["companyProfile"]["domain"]
        .as_str()
        .unwrap_or_default();
    (StatusCode::CREATED, Json(customer_json(tenant_id, domain)))
}

/// Every customer exists (links are verified against Partner Center).
async fn get_customer(Path(id): Path<Uuid>) -> Json<Value> {
    Json(customer_json(id, &domain_of(id)))
}

/// Every domain prefix is free.
async fn domain_free() -> StatusCode {
    StatusCode::NOT_FOUND
}

async fn serve_fake(fake: Arc<FakePartnerCenter>) -> String {
    let router = axum::Router::new()
        .route("/v1/customers", post(create_customer))
        .route("/v1/customers/{id}", get(get_customer))
        .route("/v1/domains/{domain}", head(domain_free))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}")
}

fn domain_of(guid: Uuid) -> String {
    format!("t{}.onmicrosoft.com", &guid.simple().to_string()[..8])
}

fn gid(kind: Kind, uuid: Uuid) -> String {
    ids::encode(kind, uuid).0
}

const LINK: &str = "mutation($input: LinkTenantInput!) { linkTenant(input: $input) {
    changed tenant { uuid organization { uuid } } } }";
const BUY: &str =
    "mutation($input: AddMicrosoftServiceInput!) { addMicrosoftService(input: $input) {
    tenantCreated replayed tenant { uuid microsoftTenantId } subscription { uuid } } }";
const RENAME: &str =
    "mutation($input: UpdateOrganizationInput!) { updateOrganization(input: $input) {
    organization { name } } }";
const READ: &str = "query($id: ID!) { node(id: $id) { ... on Organization { name } } }";

fn codes(body: &Value) -> Vec<String> {
    crate::support::errors_codes(body)
}

/// Three replicas on one database, the fake Partner Center, and the data they serve.
struct Cluster {
    replicas: Vec<Process>,
    db: DatabaseConnection,
    fake: Arc<FakePartnerCenter>,
    http: reqwest::Client,
    admin: String,
    broker: entity::broker::Model,
    service: entity::service::Model,
    // Dropped last (fields drop in order): the processes are gone before the database is.
    _database: OwnDatabase,
    _logs: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> Option<Cluster> {
        let database = OwnDatabase::create().await?;
        let db = brokergraph::db::connect(&brokergraph::db::DbConfig::new(&database.url))
            .await
            .unwrap();
        brokergraph::db::migrate(&db).await.unwrap();
        // One broker: the process-wide Partner Center token serves an install with one.
        let broker = fixtures::broker(&db, "contoso", "Contoso Cloud").await;
        let service = fixtures::service(&db, &broker, "Microsoft 365 E3", "CFQ7TTC0LFLX").await;
        let fake = Arc::new(FakePartnerCenter::default());
        let fake_url = serve_fake(fake.clone()).await;
        let logs = tempfile::tempdir().unwrap();
        let args: Vec<String> = [
            "serve",
            "--database-url",
            &database.url,
            "--jwt-secret",
            SECRET,
            "--credential-key",
            CREDENTIAL_KEY,
            "--partner-center-url",
            &fake_url,
            "--partner-center-token",
            "fake-token",
            "--partner-center-attempts",
            "1",
            "--log",
            "info",
        ]
        .map(String::from)
        .to_vec();
        let started = (0..3)
            .map(|n| Process::start(args.clone(), logs.path().join(format!("replica-{n}.log"))));
        let replicas = futures_util::future::join_all(started).await;
        let admin = token(Role::BrokerAdmin, Some(broker.id), None, "ba@contoso");
        Some(Cluster {
            replicas,
            db,
            fake,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            admin,
            broker,
            service,
            _database: database,
            _logs: logs,
        })
    }

    fn url(&self, replica: usize) -> String {
        self.replicas[replica % self.replicas.len()].url("/graphql")
    }

    async fn send(&self, replica: usize, query: &str, input: Value) -> Value {
        post_graphql(
            &self.http,
            &self.url(replica),
            &self.admin,
            query,
            json!({ "input": input }),
        )
        .await
        .unwrap_or_else(|error| panic!("replica {replica}: {error}"))
    }

    async fn organization(&self, name: &str) -> entity::organization::Model {
        fixtures::organization(&self.db, &self.broker, name, "DE").await
    }

    fn buy(&self, organization: Uuid, key: &str, prefix: &str) -> Value {
        json!({
            "organizationId": gid(Kind::Organization, organization),
            "serviceId": gid(Kind::Service, self.service.id),
            "quantity": 5,
            "domainPrefix": prefix,
            "idempotencyKey": key,
        })
    }

    async fn count_of(&self, organization: Uuid) -> (u64, u64, u64) {
        let tenants = tenant::Entity::find()
            .filter(tenant::Column::OrganizationId.eq(organization))
            .count(&self.db)
            .await
            .unwrap();
        let subscriptions = subscription::Entity::find()
            .filter(subscription::Column::OrganizationId.eq(organization))
            .count(&self.db)
            .await
            .unwrap();
        let events = audit_event::Entity::find()
            .filter(audit_event::Column::OrganizationId.eq(organization))
            .count(&self.db)
            .await
            .unwrap();
        (tenants, subscriptions, events)
    }

    /// Sends `input` until it succeeds, each time to the next running replica
    /// (`PROVISIONING_IN_PROGRESS` while another call holds the key); the successful answer.
    async fn buy_until_done(&self, first_replica: usize, input: &Value) -> Value {
        let deadline = Instant::now() + Duration::from_secs(40);
        let running = (first_replica..).filter(|n| self.replicas[n % 3].is_running());
        for attempt in running {
            let body = self.send(attempt, BUY, input.clone()).await;
            match codes(&body).as_slice() {
                [] => return body,
                [code] if code == "PROVISIONING_IN_PROGRESS" && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                _ => panic!("purchase failed: {body}"),
            }
        }
        unreachable!()
    }
}

fn phase(name: &str, started: Instant) {
    eprintln!(
        "multi-process: {name} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn should_behave_as_one_server_across_three_replica_processes() {
    let started = Instant::now();
    let Some(mut cluster) = Cluster::start().await else {
        return;
    };
    phase("three replicas ready", started);

    one_key_sent_to_every_replica_makes_one_customer(&cluster).await;
    phase("idempotency across replicas", started);

    twenty_links_of_one_tenant_id_make_one_link(&cluster).await;
    phase("tenant uniqueness across replicas", started);

    a_replica_killed_mid_mutation_leaves_nothing_half_written(&mut cluster).await;
    phase("SIGKILL mid-mutation", started);

    let renamed = a_rolling_restart_fails_no_request_beyond_those_in_flight(&mut cluster).await;
    phase("rolling restart under load", started);

    the_audit_trail_has_one_event_per_change(&cluster, renamed).await;
    phase("audit trail", started);
}

async fn one_key_sent_to_every_replica_makes_one_customer(cluster: &Cluster) {
    let acme = cluster.organization("Acme").await;
    let input = cluster.buy(acme.id, "order-across-replicas", "acmereplicas");
    // Nine calls, three at each replica at once.
    let calls = (0..9).map(|n| cluster.send(n, BUY, input.clone()));
    let outcomes = futures_util::future::join_all(calls).await;
    let mut subscriptions = HashSet::new();
    for body in &outcomes {
        match codes(body).as_slice() {
            [] => {
                subscriptions
                    .insert(body["data"]["addMicrosoftService"]["subscription"]["uuid"].clone());
            }
            [code] if code == "PROVISIONING_IN_PROGRESS" => {}
            _ => panic!("unexpected answer: {body}"),
        }
    }
    // Every replica then answers the key with the one outcome.
    for replica in 0..3 {
        let body = cluster.buy_until_done(replica, &input).await;
        subscriptions.insert(body["data"]["addMicrosoftService"]["subscription"]["uuid"].clone());
    }
    assert_eq!(
        subscriptions.len(),
        1,
        "one subscription: {subscriptions:?}"
    );
    assert_eq!(cluster.fake.customers(), 1, "one Partner Center customer");
    assert_eq!(
        cluster.fake.creates.load(Ordering::SeqCst),
        1,
        "one create call"
    );
    let (tenants, subscriptions, _) = cluster.count_of(acme.id).await;
    assert_eq!((tenants, subscriptions), (1, 1));
}

async fn twenty_links_of_one_tenant_id_make_one_link(cluster: &Cluster) {
    let guid = Uuid::new_v4();
    let mut organizations = Vec::new();
    for n in 0..20 {
        organizations.push(cluster.organization(&format!("Linker {n}")).await);
    }
    let links = organizations.iter().enumerate().map(|(n, organization)| {
        let input = json!({
            "organizationId": gid(Kind::Organization, organization.id),
            "microsoftTenantId": guid.to_string(),
            "primaryDomain": domain_of(guid),
        });
        cluster.send(n, LINK, input)
    });
    let outcomes = futures_util::future::join_all(links).await;
    let mut linked = Vec::new();
    for body in &outcomes {
        match codes(body).as_slice() {
            [] => linked.push(body["data"]["linkTenant"]["tenant"]["organization"]["uuid"].clone()),
            [code] => assert_eq!(code, "TENANT_ID_IN_USE", "{body}"),
            _ => panic!("unexpected answer: {body}"),
        }
    }
    assert_eq!(linked.len(), 1, "exactly one link succeeds: {outcomes:?}");
    let rows = tenant::Entity::find()
        .filter(tenant::Column::MicrosoftTenantId.eq(guid))
        .count(&cluster.db)
        .await
        .unwrap();
    assert_eq!(rows, 1);
    let events = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("tenant.linked"))
        .filter(audit_event::Column::OrganizationId.is_in(organizations.iter().map(|o| o.id)))
        .count(&cluster.db)
        .await
        .unwrap();
    assert_eq!(
        events, 1,
        "one audit event for the one link, none for the refusals"
    );
}

async fn a_replica_killed_mid_mutation_leaves_nothing_half_written(cluster: &mut Cluster) {
    let globex = cluster.organization("Globex").await;
    let input = cluster.buy(globex.id, "order-of-a-killed-replica", "globexkilled");
    cluster.fake.slow.store(true, Ordering::SeqCst);
    let creates_before = cluster.fake.creates.load(Ordering::SeqCst);
    let arrived = cluster.fake.arrived.notified();
    // The purchase starts on replica 0; Partner Center creates the customer and is slow to say so.
    let url = cluster.url(0);
    let (http, admin, sent) = (cluster.http.clone(), cluster.admin.clone(), input.clone());
    let in_flight = tokio::spawn(async move {
        post_graphql(&http, &url, &admin, BUY, json!({ "input": sent })).await
    });
    tokio::time::timeout(Duration::from_secs(20), arrived)
        .await
        .expect("the purchase reaches Partner Center");
    cluster.replicas[0].kill();
    assert!(
        in_flight.await.unwrap().is_err(),
        "the killed replica's client gets no answer"
    );
    cluster.fake.slow.store(false, Ordering::SeqCst);
    assert_eq!(
        cluster.count_of(globex.id).await,
        (0, 0, 0),
        "no tenant, subscription or audit event of the killed call"
    );

    // The client retries on the other replicas: once the dead holder's claim lapses, the
    // retry takes it over with the same MS-RequestId, and gets the customer back.
    let body = cluster.buy_until_done(1, &input).await;
    let outcome = &body["data"]["addMicrosoftService"];
    assert_eq!(outcome["tenantCreated"], true, "{body}");
    assert_eq!(
        cluster.fake.creates.load(Ordering::SeqCst),
        creates_before + 2
    );
    assert_eq!(
        cluster.fake.customers(),
        2,
        "the retry made no second customer"
    );
    let (tenants, subscriptions, _) = cluster.count_of(globex.id).await;
    assert_eq!((tenants, subscriptions), (1, 1));
    cluster.replicas[0].restart().await;
}

/// Load from a few clients over the replicas in rotation while each replica in turn leaves
/// the rotation, gets SIGTERM, restarts and rejoins. Every request must succeed except one in
/// flight on a replica when it got SIGTERM (graceful shutdown finishes those too). Returns the
/// renames that succeeded, by organization.
async fn a_rolling_restart_fails_no_request_beyond_those_in_flight(
    cluster: &mut Cluster,
) -> HashMap<Uuid, usize> {
    const CLIENTS: usize = 6;
    let mut organizations = Vec::new();
    for n in 0..CLIENTS {
        organizations.push(cluster.organization(&format!("Rolling {n}")).await);
    }
    let urls: Vec<String> = (0..3).map(|n| cluster.url(n)).collect();
    let in_rotation: Arc<Vec<AtomicBool>> =
        Arc::new((0..3).map(|_| AtomicBool::new(true)).collect());
    let in_flight: Arc<Vec<AtomicUsize>> = Arc::new((0..3).map(|_| AtomicUsize::new(0)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for (n, organization) in organizations.iter().enumerate() {
        let (urls, in_rotation, in_flight, stop) = (
            urls.clone(),
            in_rotation.clone(),
            in_flight.clone(),
            stop.clone(),
        );
        let admin = cluster.admin.clone();
        let id = gid(Kind::Organization, organization.id);
        // A connection per request: a load balancer's pooled connection to a replica that
        // left is the balancer's concern, not the server's.
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        clients.push(tokio::spawn(async move {
            let (mut ok, mut failed, mut renamed) = (0usize, Vec::new(), 0usize);
            let mut turn = n;
            while !stop.load(Ordering::SeqCst) {
                turn += 1;
                let replica = (turn..turn + 3)
                    .map(|t| t % 3)
                    .find(|r| in_rotation[*r].load(Ordering::SeqCst))
                    .expect("a replica in rotation");
                let (query, variables) = if turn % 2 == 0 {
                    (
                        RENAME,
                        json!({ "input": { "id": id, "name": format!("Rolling {n} #{turn}") } }),
                    )
                } else {
                    (READ, json!({ "id": id }))
                };
                in_flight[replica].fetch_add(1, Ordering::SeqCst);
                let answer = post_graphql(&http, &urls[replica], &admin, query, variables).await;
                in_flight[replica].fetch_sub(1, Ordering::SeqCst);
                match answer {
                    Ok(body) if codes(&body).is_empty() => {
                        ok += 1;
                        if query == RENAME {
                            renamed += 1;
                        }
                    }
                    other => failed.push((replica, format!("{other:?}"))),
                }
            }
            (ok, failed, renamed)
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut in_flight_at_sigterm = [0usize; 3];
    for replica in 0..3 {
        in_rotation[replica].store(false, Ordering::SeqCst);
        in_flight_at_sigterm[replica] = in_flight[replica].load(Ordering::SeqCst);
        let status = cluster.replicas[replica].terminate();
        assert!(
            status.success(),
            "SIGTERM stops the replica cleanly: {status}"
        );
        cluster.replicas[replica].restart().await;
        in_rotation[replica].store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let (mut ok, mut failures) = (0, Vec::new());
    let mut renamed = HashMap::new();
    for (client, organization) in clients.into_iter().zip(&organizations) {
        let (done, failed, renames) = client.await.unwrap();
        ok += done;
        failures.extend(failed);
        renamed.insert(organization.id, renames);
    }
    let allowed: usize = in_flight_at_sigterm.iter().sum();
    eprintln!(
        "rolling restart: {ok} requests answered, {} failed, {allowed} in flight at a SIGTERM",
        failures.len()
    );
    assert!(ok > 50, "the load ran: {ok} requests");
    assert!(
        failures.len() <= allowed,
        "failed beyond those in flight on a stopping replica: {failures:?}"
    );
    renamed
}

async fn the_audit_trail_has_one_event_per_change(
    cluster: &Cluster,
    renamed: HashMap<Uuid, usize>,
) {
    let events = audit_event::Entity::find().all(&cluster.db).await.unwrap();
    let ids: HashSet<Uuid> = events.iter().map(|event| event.id).collect();
    assert_eq!(ids.len(), events.len(), "no event recorded twice");
    // No duplicate: a link, a created tenant or subscription is recorded once per entity.
    let mut per_entity: HashMap<(&str, Uuid), usize> = HashMap::new();
    for event in &events {
        if event.action != "organization.updated" {
            *per_entity
                .entry((&event.action, event.entity_id))
                .or_default() += 1;
        }
    }
    let twice: Vec<_> = per_entity.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "recorded twice: {twice:?}");
    // No gap: every change made through a replica has its event, and no other exists.
    let tenants = tenant::Entity::find().count(&cluster.db).await.unwrap() as usize;
    let subscriptions = subscription::Entity::find()
        .count(&cluster.db)
        .await
        .unwrap() as usize;
    let tenant_events = events
        .iter()
        .filter(|event| event.action == "tenant.linked")
        .count();
    let subscription_events = events
        .iter()
        .filter(|event| event.action == "subscription.created")
        .count();
    assert_eq!(tenant_events, tenants, "one event per tenant");
    assert_eq!(
        subscription_events, subscriptions,
        "one event per subscription"
    );
    let others: Vec<&str> = events
        .iter()
        .map(|event| event.action.as_str())
        .filter(|action| {
            ![
                "tenant.linked",
                "subscription.created",
                "organization.updated",
            ]
            .contains(action)
        })
        .collect();
    assert!(
        others.is_empty(),
        "no event of a change that was not made: {others:?}"
    );
    for (organization, renames) in renamed {
        let updates = events
            .iter()
            .filter(|event| {
                event.action == "organization.updated" && event.entity_id == organization
            })
            .count();
        assert!(
            (renames..=renames + 1).contains(&updates),
            "{renames} renames answered, {updates} recorded (at most one more: a rename in flight at a SIGTERM)"
        );
    }
}
