//! brokergraph: a GraphQL gateway for cloud-service brokers.
//!
//! - [`http`]: the HTTP edge (GraphQL over HTTP, playground, health).
//! - [`graphql`]: the schema, one module per domain type.
//! - [`scope`]: the one place where the caller's scope filters every read.
//! - [`db`], [`seed`]: connecting, migrating, demo data.

pub mod auth;
pub mod cli;
pub mod db;
pub mod error;
pub mod graphql;
pub mod http;
pub mod scope;
pub mod seed;
