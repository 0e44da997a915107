//! End-to-end tests through the real router: one binary, one module per area.
//! Every database test runs on SQLite and, when `TEST_DATABASE_URL` is set, on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed test should panic loudly

mod fixtures;
mod support;

mod auth;
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
mod mutations;
mod pagination;
mod partner_connection;
mod request_ids;
mod schema_file;
mod scope_matrix;
mod statements;
mod tenancy;
mod websocket;
