//! The schema's types: one module per domain type (its object, its lookups, the order of its
//! lists), the mutations that manage each (`manage/`) and tenant linking (`tenancy`), merged into
//! the root types in [`crate::graphql`].

pub mod audit;
pub mod broker;
pub mod enums;
pub mod json;
pub mod live;
pub mod manage;
pub mod mutation;
pub mod node;
pub mod organization;
pub mod partner_connection;
pub mod sandbox;
pub mod service;
pub mod subscription;
pub mod sync;
pub mod tenancy;
pub mod tenant;
pub mod user;
