//! Relay cursor connections with keyset pagination, for root lists and, batched by parent,
//! for nested lists.
//!
//! One SQL statement fetches a page for every parent of a batch: window functions count each
//! parent's rows (`totalCount`), number them in the requested order after the cursor, and the
//! outer query keeps the first `limit` of each. `last`/`before` run the same query in the reverse
//! order and flip the rows back.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::connection::CursorType;
use async_graphql::{Enum, SimpleObject};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::sea_query::{
    Alias, Asterisk, Condition, Expr, ExprTrait, Func, Order as SqlOrder, Query, SelectStatement,
    WindowStatement,
};
use sea_orm::{ConnectionTrait, EntityTrait, FromQueryResult, QueryTrait, Select, Value};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::crypto::TokenSealer;
use crate::error::{ApiError, ApiResult};

pub const DEFAULT_PAGE_SIZE: u64 = 20;
pub const MAX_PAGE_SIZE: u64 = 100;

/// The column a list is sorted by; the row's `id` always breaks ties, so the order is total.
/// `Id` is creation order: ids are time-ordered UUID v7 taken at creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SortKey {
    Id,
    Name,
    Email,
}

impl SortKey {
    fn column(self) -> Option<&'static str> {
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
    key: SortKey,
    #[serde(rename = "d")]
    desc: bool,
    #[serde(rename = "v", default, skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    #[serde(rename = "i")]
    id: Uuid,
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

#[derive(SimpleObject, Debug, Clone, Copy)]
pub struct ConnectionFields {
    /// How many items the connection holds in all, whatever the page.
    pub total_count: i64,
}

pub use super::connection::Conn;

/// A validated `first/after/last/before` request in one order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageRequest {
    limit: u64,
    /// `last`: fetch from the end of the order backwards.
    backward: bool,
    after: Option<Cursor>,
    before: Option<Cursor>,
    order: Order,
    /// Whether `totalCount` is asked for: a first page without it needs no count.
    count: bool,
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
    fn has_cursor(&self) -> bool {
        self.after.is_some() || self.before.is_some()
    }

    /// The same page, counting each parent's rows (`totalCount`) only when `count`. Pages
    /// with a cursor always count (their `hasPreviousPage`/`hasNextPage` need it).
    pub fn counting(mut self, count: bool) -> Self {
        self.count = count;
        self
    }

    /// Whether the statement counts each parent's rows.
    fn counts(&self) -> bool {
        self.count || self.has_cursor()
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

/// Where a nested list hangs from: the column (`table.column`) holding the parent's id.
#[derive(Debug, Clone, Copy)]
pub struct Parent {
    pub table: &'static str,
    pub column: &'static str,
}

const X: &str = "x";
const PARENT: &str = "__parent";

fn col(name: &str) -> Expr {
    Expr::col((Alias::new(X), Alias::new(name)))
}

/// Rows strictly beyond `cursor` in the direction `ascending`.
fn beyond(cursor: &Cursor, ascending: bool) -> Condition {
    let id = Value::Uuid(Some(cursor.id));
    let past = |e: Expr, v: Value| if ascending { e.gt(v) } else { e.lt(v) };
    match (cursor.key.column(), &cursor.value) {
        (Some(column), Some(value)) => Condition::any()
            .add(past(col(column), value.clone().into()))
            .add(
                Condition::all()
                    .add(col(column).eq(value.clone()))
                    .add(past(col("id"), id)),
            ),
        _ => Condition::all().add(past(col("id"), id)),
    }
}

fn window(partitioned: bool) -> WindowStatement {
    if partitioned {
        WindowStatement::partition_by((Alias::new(X), Alias::new(PARENT)))
    } else {
        WindowStatement::new()
    }
}

/// The rows of the connection for every parent, with the parent's id as `__parent`.
fn base_statement(select: SelectStatement, parent: Option<(Parent, &[Uuid])>) -> SelectStatement {
    let mut base = select;
    if let Some((parent, ids)) = parent {
        let column = (Alias::new(parent.table), Alias::new(parent.column));
        base.expr_as(Expr::col(column.clone()), Alias::new(PARENT))
            .and_where(Expr::col(column).is_in(ids.iter().copied()));
    }
    base
}

/// Builds the one statement that pages `base` for every parent at once.
fn page_statement(
    base: SelectStatement,
    partitioned: bool,
    request: &PageRequest,
) -> SelectStatement {
    // The order the query walks: the requested one, reversed for `last`.
    let ascending = (request.order.direction == OrderDirection::Asc) != request.backward;
    let (start, end) = if request.backward {
        (&request.before, &request.after)
    } else {
        (&request.after, &request.before)
    };
    let sql_order = if ascending {
        SqlOrder::Asc
    } else {
        SqlOrder::Desc
    };
    let mut numbered = window(partitioned);
    if let Some(column) = request.order.key.column() {
        numbered.order_by((Alias::new(X), Alias::new(column)), sql_order.clone());
    }
    numbered.order_by((Alias::new(X), Alias::new("id")), sql_order.clone());
    // The first `limit` of each parent (at least one, which carries the counts even for
    // `first: 0`, and is dropped afterwards); uncounted, one more, which tells whether there
    // are more.
    let counted_rows = Ord::max(request.limit, 1);
    let first_page_rows = if request.count {
        counted_rows
    } else {
        request.limit + 1
    };
    let keep = |walked: SelectStatement, in_range: Condition, rows: u64| {
        let mut page = Query::select();
        page.column((Alias::new(X), Asterisk))
            .from_subquery(walked, Alias::new(X))
            .and_where(col("__rn").lte(rows as i64))
            .cond_where(in_range);
        if partitioned {
            page.order_by((Alias::new(X), Alias::new(PARENT)), SqlOrder::Asc);
        }
        page.order_by((Alias::new(X), Alias::new("__rn")), SqlOrder::Asc);
        page
    };
    if !request.has_cursor() && !partitioned {
        // The first page of a root list: walk the order (an index, where there is one) and
        // stop after the page and one row more; count with a separate scan when asked.
        let mut page = Query::select();
        page.column((Alias::new(X), Asterisk)).expr_window_as(
            Expr::cust("ROW_NUMBER()"),
            numbered,
            Alias::new("__rn"),
        );
        if request.count {
            let mut count = Query::select();
            count
                .expr(Func::count(Expr::col(Asterisk)))
                .from_subquery(base.clone(), Alias::new("c"));
            page.expr_as(
                Expr::SubQuery(None, Box::new(count.into())),
                Alias::new("__total"),
            );
        }
        page.from_subquery(base, Alias::new(X));
        if let Some(column) = request.order.key.column() {
            page.order_by((Alias::new(X), Alias::new(column)), sql_order.clone());
        }
        page.order_by((Alias::new(X), Alias::new("id")), sql_order)
            .limit(first_page_rows);
        return page;
    }
    if !request.has_cursor() {
        // The first page of nested lists (the usual case): every row is in range, so one pass numbers them,
        // and counts them when `totalCount` is asked for; without it, one row more than the
        // page tells `hasNextPage`.
        let mut walked = Query::select();
        walked.column((Alias::new(X), Asterisk));
        if request.count {
            walked.expr_window_as(
                Func::count(Expr::col(Asterisk)),
                window(partitioned),
                Alias::new("__total"),
            );
        }
        walked
            .expr_window_as(Expr::cust("ROW_NUMBER()"), numbered, Alias::new("__rn"))
            .from_subquery(base, Alias::new(X));
        return keep(walked, Condition::all(), first_page_rows);
    }
    let in_range = end
        .as_ref()
        .map(|cursor| beyond(cursor, !ascending))
        .unwrap_or_else(Condition::all);

    // 1: every row of the connection, counted.
    let mut counted = Query::select();
    counted
        .column((Alias::new(X), Asterisk))
        .expr_window_as(
            Func::count(Expr::col(Asterisk)),
            window(partitioned),
            Alias::new("__total"),
        )
        .from_subquery(base, Alias::new(X));
    // 2: the rows past the start cursor, numbered in the walking order; rows past the end
    // cursor come last in that order, so numbering them does not disturb the others.
    let mut walked = Query::select();
    walked
        .column((Alias::new(X), Asterisk))
        .expr_window_as(Expr::cust("ROW_NUMBER()"), numbered, Alias::new("__rn"))
        .expr_window_as(
            Func::count(Expr::col(Asterisk)),
            window(partitioned),
            Alias::new("__past_start"),
        )
        .expr_window_as(
            Func::sum(Expr::case(in_range.clone(), 1).finally(0)),
            window(partitioned),
            Alias::new("__in_range"),
        )
        .from_subquery(counted, Alias::new(X));
    if let Some(cursor) = start {
        walked.cond_where(beyond(cursor, ascending));
    }
    keep(walked, in_range, counted_rows)
}

/// Fetches one page per parent (or the single page of a root list when `parent` is `None`,
/// keyed by the nil UUID) in one statement.
pub async fn fetch_pages<E>(
    db: &impl ConnectionTrait,
    select: Select<E>,
    parent: Option<(Parent, &[Uuid])>,
    request: &PageRequest,
) -> Result<HashMap<Uuid, Page<E::Model>>, sea_orm::DbErr>
where
    E: EntityTrait,
    E::Model: FromQueryResult,
{
    let partitioned = parent.is_some();
    let base = base_statement(select.into_query(), parent);
    let statement = page_statement(base.clone(), partitioned, request);
    let rows = db.query_all(&statement).await?;
    let mut pages: HashMap<Uuid, Page<E::Model>> = HashMap::new();
    for row in rows {
        let key = if partitioned {
            row.try_get::<Uuid>("", PARENT)?
        } else {
            Uuid::nil()
        };
        let model = E::Model::from_query_result(&row, "")?;
        let page = pages.entry(key).or_default();
        if !request.counts() {
            // A first page fetched one row past its end, uncounted: `total` stays unknown (0;
            // `totalCount` was not asked for).
            let number: i64 = row.try_get("", "__rn")?;
            if number as u64 <= request.limit {
                page.rows.push(model);
            } else if request.backward {
                page.has_previous = true;
            } else {
                page.has_next = true;
            }
            continue;
        }
        let total: i64 = row.try_get("", "__total")?;
        let (past_start, in_range) = if request.has_cursor() {
            (
                row.try_get("", "__past_start")?,
                sum_as_i64(&row, "__in_range")?,
            )
        } else {
            (total, total)
        };
        page.total = total;
        let more = in_range as u64 > request.limit;
        let before_start = request.after.is_some() && !request.backward
            || request.before.is_some() && request.backward;
        let earlier = before_start && total > past_start;
        (page.has_previous, page.has_next) = if request.backward {
            (more, earlier)
        } else {
            (earlier, more)
        };
        if (page.rows.len() as u64) < request.limit {
            page.rows.push(model);
        }
    }
    if request.backward {
        for page in pages.values_mut() {
            page.rows.reverse();
        }
    }
    let start = if request.backward {
        &request.before
    } else {
        &request.after
    };
    let parents: Vec<Uuid> = match parent {
        Some((_, ids)) => ids.to_vec(),
        None => vec![Uuid::nil()],
    };
    if start.is_some() && parents.iter().any(|id| !pages.contains_key(id)) {
        // A cursor at (or past) the end leaves a parent without rows, and so without its
        // `totalCount`: count those separately. Only paging past the end pays for this.
        count_empty(
            db,
            base,
            partitioned,
            request.backward,
            &mut pages,
            &parents,
        )
        .await?;
    }
    Ok(pages)
}

async fn count_empty<M>(
    db: &impl ConnectionTrait,
    base: SelectStatement,
    partitioned: bool,
    backward: bool,
    pages: &mut HashMap<Uuid, Page<M>>,
    parents: &[Uuid],
) -> Result<(), sea_orm::DbErr> {
    let mut count = Query::select();
    count
        .expr_as(Func::count(Expr::col(Asterisk)), Alias::new("__total"))
        .from_subquery(base, Alias::new(X));
    if partitioned {
        count
            .column((Alias::new(X), Alias::new(PARENT)))
            .group_by_col((Alias::new(X), Alias::new(PARENT)));
    }
    for row in db.query_all(&count).await? {
        let key = if partitioned {
            row.try_get::<Uuid>("", PARENT)?
        } else {
            Uuid::nil()
        };
        let total: i64 = row.try_get("", "__total")?;
        if !parents.contains(&key) || pages.contains_key(&key) {
            continue;
        }
        let earlier = total > 0;
        pages.insert(
            key,
            Page {
                rows: Vec::new(),
                total,
                has_previous: earlier && !backward,
                has_next: earlier && backward,
            },
        );
    }
    Ok(())
}

/// `SUM` is an integer on SQLite and a numeric on PostgreSQL.
fn sum_as_i64(row: &sea_orm::QueryResult, column: &str) -> Result<i64, sea_orm::DbErr> {
    match row.try_get::<i64>("", column) {
        Ok(value) => Ok(value),
        Err(_) => {
            let value: sea_orm::prelude::Decimal = row.try_get("", column)?;
            Ok(i64::try_from(value).unwrap_or(i64::MAX))
        }
    }
}

/// Counts for a root list whose page is empty still need the total; a page with rows has it.
pub fn single<M>(mut pages: HashMap<Uuid, Page<M>>) -> Page<M> {
    pages.remove(&Uuid::nil()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn cursors_round_trip_sealed_and_belong_to_their_order() {
        let sealer = sealer();
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

        let args = PageArgs {
            after: Some(text),
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
