//! Relay's conventions: cursor connections (`Conn`, `connection`), their arguments and pages
//! (`pagination`), keyset pagination in SQL (`keyset`), sealed cursors (`cursor`), and the
//! opaque global IDs of the `Node` interface (`ids`).

pub mod connection;
pub mod cursor;
pub mod ids;
pub mod keyset;
pub mod pagination;
