//! Cursors: the position of a row in a keyset order, and how a client sees it, sealed.
//!
//! async-graphql's own `OpaqueCursor` is base64url of the value's JSON: anyone can read it
//! (and a cursor holds the row's sort value, say a colleague's email, which the caller may not
//! be allowed to read) and forge one. Ours are sealed with AES-GCM ([`TokenSealer`]): opaque,
//! and refused when altered or sealed by a server with another key.

use async_graphql::Enum;
use async_graphql::connection::CursorType;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::crypto::TokenSealer;

/// The column a list is sorted by; the row's `id` always breaks ties, so the order is total.
/// `Id` is creation order: ids are time-ordered UUID v7 taken at creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SortKey {
    Id,
    Name,
    Email,
}

impl SortKey {
    pub(super) fn column(self) -> Option<&'static str> {
        match self {
            SortKey::Id => None,
            SortKey::Name => Some("name"),
            SortKey::Email => Some("email"),
        }
    }
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OrderDirection {
    #[default]
    Asc,
    Desc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Order {
    pub key: SortKey,
    pub direction: OrderDirection,
}

impl Order {
    pub const fn asc(key: SortKey) -> Self {
        Order {
            key,
            direction: OrderDirection::Asc,
        }
    }
}

/// A model that can be placed in a keyset order.
pub trait Keyed {
    fn id(&self) -> Uuid;
    fn sort_value(&self, key: SortKey) -> Option<String>;
}

/// The position of a row in one order. Clients see it only sealed ([`Cursor::seal`]): it holds
/// the row's sort value (a colleague's email, say), which the caller may not be allowed to read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "k")]
    pub(super) key: SortKey,
    #[serde(rename = "d")]
    pub(super) desc: bool,
    #[serde(rename = "v", default, skip_serializing_if = "Option::is_none")]
    pub(super) value: Option<String>,
    #[serde(rename = "i")]
    pub(super) id: Uuid,
}

impl Cursor {
    pub fn of<M: Keyed>(model: &M, order: Order) -> Self {
        Cursor {
            key: order.key,
            desc: order.direction == OrderDirection::Desc,
            value: model.sort_value(order.key),
            id: model.id(),
        }
    }

    /// The cursor as a client sees it: sealed (encrypted and authenticated), base64url.
    pub fn seal(&self, sealer: &TokenSealer) -> String {
        // Serialising a struct of strings and a UUID cannot fail.
        let plaintext = serde_json::to_vec(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(sealer.seal(&plaintext))
    }

    /// A cursor [`seal`](Self::seal) made, or an error for anything else (altered, forged, or
    /// sealed by a server with another key).
    pub fn open(text: &str, sealer: &TokenSealer) -> Result<Self, MalformedCursor> {
        URL_SAFE_NO_PAD
            .decode(text)
            .ok()
            .and_then(|bytes| sealer.open(&bytes))
            .and_then(|plaintext| serde_json::from_slice(&plaintext).ok())
            .ok_or(MalformedCursor)
    }
}

/// A cursor that is not one of ours.
#[derive(Debug, thiserror::Error)]
#[error("malformed cursor")]
pub struct MalformedCursor;

/// A cursor already sealed, as async-graphql's own connection types carry it.
#[derive(Debug, Clone)]
pub struct SealedCursor(pub String);

impl CursorType for SealedCursor {
    type Error = MalformedCursor;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        Ok(SealedCursor(s.to_string()))
    }

    fn encode_cursor(&self) -> String {
        self.0.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_sealed() {
        let sealer = TokenSealer::derive(&[7; 32], b"test cursors");
        let cursor = Cursor {
            key: SortKey::Email,
            desc: false,
            value: Some("jane@contoso.example".into()),
            id: Uuid::now_v7(),
        };
        let text = cursor.seal(&sealer);
        assert_eq!(Cursor::open(&text, &sealer).ok(), Some(cursor.clone()));
        // Nothing of the value shows, however the text is decoded.
        let bytes = URL_SAFE_NO_PAD.decode(&text).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("jane"));
        assert!(!text.contains("jane"));
        // Another server's key, or an unsealed (old-style) cursor, is not one of ours.
        let other = TokenSealer::derive(&[8; 32], b"test cursors");
        assert!(Cursor::open(&text, &other).is_err());
        let plain = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cursor).unwrap());
        assert!(Cursor::open(&plain, &sealer).is_err());
    }
}
