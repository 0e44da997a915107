//! brokergraph: a GraphQL gateway for cloud-service brokers.
//!
//! - [`http`]: the HTTP edge (GraphQL over HTTP, WebSocket, playground, health).
//! - [`auth`]: who is calling (JWT verification, development keys).
//! - [`graphql`]: the schema, one module per domain type; mutations are thin wrappers over
//!   [`domain`], where tenant linking, E-Store provisioning and customer consent are decided.
//! - [`scope`]: the one place where the caller's scope filters every read.
//! - [`partner_center`]: the Partner Center connector (HTTP client and sandbox).
//! - [`db`], [`seed`]: connecting, migrating, demo data.
//! - [`telemetry`]: OpenTelemetry traces over OTLP, when configured.

pub mod auth;
pub mod cli;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod http;
pub mod keyfile;
pub mod live;
pub mod partner_center;
pub mod scope;
pub mod seed;
pub mod sync_command;
pub mod telemetry;
