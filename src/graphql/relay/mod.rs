//! Relay's conventions: cursor connections (`Conn`, resolved in place), keyset pagination with
//! sealed cursors (`pagination`), and the opaque global IDs of the `Node` interface (`ids`).

pub mod connection;
pub mod ids;
pub mod pagination;
