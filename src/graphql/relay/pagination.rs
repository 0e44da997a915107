//! Relay cursor connections' arguments and pages: `first/after/last/before` validated into a
//! [`PageRequest`], and the [`Page`] of rows that becomes a connection. The rows are fetched
//! by [`super::keyset`], the cursors are [`super::cursor`]'s.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::SimpleObject;
use uuid::Uuid;

use super::cursor::{Cursor, Keyed, Order, OrderDirection};
use crate::crypto::TokenSealer;
use crate::error::{ApiError, ApiResult};

pub const DEFAULT_PAGE_SIZE: u64 = 20;
pub const MAX_PAGE_SIZE: u64 = 100;

#[derive(SimpleObject, Debug, Clone, Copy)]
pub struct ConnectionFields {
    /// How many items the connection holds in all, whatever the page.
    pub total_count: i64,
}

use super::connection::Conn;

/// A validated `first/after/last/before` request in one order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageRequest {
    pub(super) limit: u64,
    /// `last`: fetch from the end of the order backwards.
    pub(super) backward: bool,
    pub(super) after: Option<Cursor>,
    pub(super) before: Option<Cursor>,
    pub(super) order: Order,
    /// Whether `totalCount` is asked for: a page without it needs no count.
    pub(super) count: bool,
}

/// The pagination arguments every connection field takes.
#[derive(Debug, Clone, Default)]
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

impl PageRequest {
    pub(super) fn has_cursor(&self) -> bool {
        self.after.is_some() || self.before.is_some()
    }

    /// The same page, counting each parent's rows (`totalCount`) only when `count`.
    pub fn counting(mut self, count: bool) -> Self {
        self.count = count;
        self
    }

    /// The cursor the query walks from: `after`, or `before` for `last`.
    pub(super) fn start(&self) -> Option<&Cursor> {
        if self.backward {
            self.before.as_ref()
        } else {
            self.after.as_ref()
        }
    }
}

impl PageArgs {
    /// The page asked for in `order`; cursors are opened with `sealer`.
    pub fn request(&self, order: Order, sealer: &TokenSealer) -> ApiResult<PageRequest> {
        let count = |field: &str, value: Option<i32>| -> ApiResult<Option<u64>> {
            match value {
                None => Ok(None),
                Some(n) if n < 0 => Err(ApiError::bad_input(
                    field,
                    format!("`{field}` must not be negative"),
                )),
                Some(n) if n as u64 > MAX_PAGE_SIZE => Err(ApiError::bad_input(
                    field,
                    format!("`{field}` must be at most {MAX_PAGE_SIZE}, got {n}"),
                )),
                Some(n) => Ok(Some(n as u64)),
            }
        };
        let cursor = |field: &str, value: &Option<String>| -> ApiResult<Option<Cursor>> {
            let Some(text) = value else { return Ok(None) };
            let cursor = Cursor::open(text, sealer).map_err(|_| {
                ApiError::bad_input(field, format!("`{field}` is not a valid cursor"))
            })?;
            if cursor.key != order.key
                || cursor.desc != (order.direction == OrderDirection::Desc)
                || cursor.value.is_some() != order.key.column().is_some()
            {
                return Err(ApiError::bad_input(
                    field,
                    format!("`{field}` is a cursor of another ordering"),
                ));
            }
            Ok(Some(cursor))
        };
        let first = count("first", self.first)?;
        let last = count("last", self.last)?;
        if first.is_some() && last.is_some() {
            return Err(ApiError::bad_input(
                "last",
                "passing both `first` and `last` is not supported",
            ));
        }
        Ok(PageRequest {
            limit: first.or(last).unwrap_or(DEFAULT_PAGE_SIZE),
            backward: last.is_some(),
            after: cursor("after", &self.after)?,
            before: cursor("before", &self.before)?,
            order,
            count: true,
        })
    }
}

/// One page of rows, in the order the client asked for.
#[derive(Debug, Clone)]
pub struct Page<M> {
    pub rows: Vec<M>,
    pub total: i64,
    pub has_previous: bool,
    pub has_next: bool,
}

impl<M> Default for Page<M> {
    fn default() -> Self {
        Page {
            rows: Vec::new(),
            total: 0,
            has_previous: false,
            has_next: false,
        }
    }
}

impl<M: Keyed> Page<M> {
    /// The page as a connection whose cursors `sealer` seals (only those a client selects).
    pub fn into_connection<N>(
        self,
        order: Order,
        sealer: Arc<TokenSealer>,
        node: impl Fn(M) -> N,
    ) -> Conn<N> {
        let edges = self
            .rows
            .into_iter()
            .map(|row| (Cursor::of(&row, order), node(row)))
            .collect();
        Conn::new(edges, sealer, self.total, self.has_previous, self.has_next)
    }
}

/// Counts for a root list whose page is empty still need the total; a page with rows has it.
pub fn single<M>(mut pages: HashMap<Uuid, Page<M>>) -> Page<M> {
    pages.remove(&Uuid::nil()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graphql::relay::cursor::SortKey;

    fn order() -> Order {
        Order::asc(SortKey::Name)
    }

    fn sealer() -> TokenSealer {
        TokenSealer::derive(&[7; 32], b"test cursors")
    }

    #[test]
    fn page_size_defaults_and_bounds() {
        let sealer = sealer();
        let args = PageArgs::default();
        assert_eq!(
            args.request(order(), &sealer).map(|r| r.limit),
            Ok(DEFAULT_PAGE_SIZE)
        );
        for (first, ok) in [(0, true), (100, true), (101, false), (-1, false)] {
            let args = PageArgs {
                first: Some(first),
                ..Default::default()
            };
            assert_eq!(args.request(order(), &sealer).is_ok(), ok, "first: {first}");
        }
        let both = PageArgs {
            first: Some(1),
            last: Some(1),
            ..Default::default()
        };
        assert!(both.request(order(), &sealer).is_err());
    }

    #[test]
    fn cursors_belong_to_their_order() {
        let sealer = sealer();
        let cursor = Cursor {
            key: SortKey::Email,
            desc: false,
            value: Some("jane@contoso.example".into()),
            id: Uuid::now_v7(),
        };
        let args = PageArgs {
            after: Some(cursor.seal(&sealer)),
            ..Default::default()
        };
        assert!(args.request(Order::asc(SortKey::Email), &sealer).is_ok());
        let err = args.request(Order::asc(SortKey::Id), &sealer).unwrap_err();
        assert_eq!(err.code(), "BAD_USER_INPUT");
        let junk = PageArgs {
            before: Some("not a cursor".into()),
            ..Default::default()
        };
        assert!(junk.request(order(), &sealer).is_err());
    }
}
