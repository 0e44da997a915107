//! End-to-end tests through the real router: one binary, one module per area.
//! Every database test runs on SQLite and, when `TEST_DATABASE_URL` is set, on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed test should panic loudly

mod fixtures;
mod support;

mod auth;
mod bounds;
mod browser;
mod cli;
mod connections;
mod database_down;
mod edge;
mod federation;
mod graph;
mod graphql_http;
mod hardening_errors;
mod hardening_scope;
mod hardening_transport;
mod http_rules;
mod input_rules;
mod limits;
mod live;
mod metrics;
mod multi_process;
mod mutations;
mod pagination;
mod partner_connection;
mod persisted;
mod read_replicas;
mod request_ids;
mod sandbox;
mod schema_file;
mod scope_matrix;
mod statements;
mod sync;
mod tenancy;
mod traces;
mod websocket;
