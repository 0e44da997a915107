//! How an operation runs: its document, found and checked once (`documents`); its limits, checked before any resolver (`limits/`); how resolvers
//! read, batched per relation and level (`loaders`, `fetch`); how objects resolve their leaves
//! without a future each (`in_place`); and how its errors reach a client
//! (`errors`).

pub mod documents;
pub mod errors;
pub mod fetch;
pub mod in_place;
pub mod limits;
pub mod loaders;
