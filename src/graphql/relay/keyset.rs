//! Keyset pagination in SQL, for root lists and, batched by parent, for nested lists.
//!
//! One SQL statement fetches a page for every parent of a batch. A first page numbers each
//! parent's rows in the requested order (a window function; a root list walks its index with
//! `LIMIT` instead) and counts them only when `totalCount` is asked for. A page after (or
//! before) a cursor seeks: `(sort, id) > (the cursor's)` in the walking order, so only the rows
//! from the cursor on are read (a root list stops after the page and one row more; nested lists
//! number only those rows, per parent); the count, when asked for, and whether a row comes before
//! the cursor (`hasPreviousPage`) are subqueries of their own. `last`/`before` run the same query
//! in the reverse order and flip the rows back.

use std::collections::HashMap;

use sea_orm::sea_query::{
    Alias, Asterisk, Condition, Expr, ExprTrait, Func, JoinType, Order as SqlOrder, Query,
    SelectStatement, WindowStatement,
};
use sea_orm::{ConnectionTrait, EntityTrait, FromQueryResult, QueryTrait, Select, Value};
use uuid::Uuid;

use super::cursor::{Cursor, OrderDirection};
use super::pagination::{Page, PageRequest};

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

/// The rows on one side of `cursor` in the walking order (`ascending` or not): strictly
/// `beyond` it, or at or before it. A row value, `(sort, id) > (…)`, which an index on the
/// sort column can seek to.
fn seek(cursor: &Cursor, ascending: bool, beyond: bool) -> Expr {
    let id = Expr::val(Value::Uuid(Some(cursor.id)));
    let (row, at) = match (cursor.key.column(), &cursor.value) {
        (Some(column), Some(value)) => (
            Expr::tuple([col(column), col("id")]),
            Expr::tuple([Expr::val(value.clone()), id]),
        ),
        _ => (col("id"), id),
    };
    match (ascending, beyond) {
        (true, true) => row.gt(at),
        (true, false) => row.lte(at),
        (false, true) => row.lt(at),
        (false, false) => row.gte(at),
    }
}

/// Orders `page` as the query walks: by the sort column, then `id`.
fn walk(page: &mut SelectStatement, request: &PageRequest, order: SqlOrder) {
    if let Some(column) = request.order.key.column() {
        page.order_by((Alias::new(X), Alias::new(column)), order.clone());
    }
    page.order_by((Alias::new(X), Alias::new("id")), order);
}

/// `(SELECT COUNT(*) FROM (select) AS c)`.
fn count_of(select: SelectStatement) -> Expr {
    let mut count = Query::select();
    count
        .expr(Func::count(Expr::col(Asterisk)))
        .from_subquery(select, Alias::new("c"));
    Expr::SubQuery(None, Box::new(count.into()))
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
    let keep = |walked: SelectStatement, rows: u64| {
        let mut page = Query::select();
        page.column((Alias::new(X), Asterisk))
            .from_subquery(walked, Alias::new(X))
            .and_where(col("__rn").lte(rows as i64));
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
            page.expr_as(count_of(base.clone()), Alias::new("__total"));
        }
        page.from_subquery(base, Alias::new(X));
        walk(&mut page, request, sql_order);
        page.limit(first_page_rows);
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
        return keep(walked, first_page_rows);
    }
    // A page after (or before) a cursor seeks from the cursor's key: only the rows from the
    // start cursor on (up to the end cursor) are read, one more than the page telling whether
    // there are more. The count, when asked for, and whether any row comes before the start
    // cursor are separate subqueries.
    let mut in_range = Condition::all();
    if let Some(cursor) = start {
        in_range = in_range.add(seek(cursor, ascending, true));
    }
    if let Some(cursor) = end {
        in_range = in_range.add(seek(cursor, !ascending, true));
    }
    let rows = request.limit + 1;
    if !partitioned {
        let mut page = Query::select();
        page.column((Alias::new(X), Asterisk));
        if request.count {
            page.expr_as(count_of(base.clone()), Alias::new("__total"));
        }
        if let Some(cursor) = start {
            // 1 when a row lies at or before the start cursor, else 0: an index seek, one row.
            let mut before = Query::select();
            before
                .expr(Expr::val(1))
                .from_subquery(base.clone(), Alias::new(X))
                .and_where(seek(cursor, ascending, false))
                .limit(1);
            page.expr_as(count_of(before), Alias::new("__before"));
        }
        page.from_subquery(base, Alias::new(X)).cond_where(in_range);
        walk(&mut page, request, sql_order);
        page.limit(rows);
        return page;
    }
    // Nested lists: each parent's rows from the cursor on, numbered; each parent's count and
    // rows before the cursor in one pass over its rows (grouped, not sorted).
    let mut walked = Query::select();
    walked
        .column((Alias::new(X), Asterisk))
        .expr_window_as(Expr::cust("ROW_NUMBER()"), numbered, Alias::new("__rn"))
        .from_subquery(base.clone(), Alias::new(X))
        .cond_where(in_range);
    let mut page = keep(walked, rows);
    if request.count || start.is_some() {
        const COUNTS: &str = "counts";
        let mut counts = Query::select();
        counts
            .column((Alias::new(X), Alias::new(PARENT)))
            .from_subquery(base, Alias::new(X))
            .group_by_col((Alias::new(X), Alias::new(PARENT)));
        if request.count {
            counts.expr_as(Func::count(Expr::col(Asterisk)), Alias::new("__total"));
            page.column((Alias::new(COUNTS), Alias::new("__total")));
        }
        if let Some(cursor) = start {
            counts.expr_as(
                Func::count(Expr::case(seek(cursor, ascending, false), 1)),
                Alias::new("__before"),
            );
            page.column((Alias::new(COUNTS), Alias::new("__before")));
        }
        page.join_subquery(
            JoinType::InnerJoin,
            counts,
            Alias::new(COUNTS),
            Expr::col((Alias::new(COUNTS), Alias::new(PARENT)))
                .equals((Alias::new(X), Alias::new(PARENT))),
        );
    }
    page
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
    let start = request.start();
    let mut pages: HashMap<Uuid, Page<E::Model>> = HashMap::new();
    for row in rows {
        let key = if partitioned {
            row.try_get::<Uuid>("", PARENT)?
        } else {
            Uuid::nil()
        };
        let model = E::Model::from_query_result(&row, "")?;
        let page = pages.entry(key).or_default();
        if request.count {
            page.total = row.try_get("", "__total")?;
        }
        // The rows come in the walking order, one past the page when there are more; without a
        // cursor and with a count, the count tells instead.
        let (more, earlier) = if request.has_cursor() {
            let before: i64 = match start {
                Some(_) => row.try_get("", "__before")?,
                None => 0,
            };
            (page.rows.len() as u64 >= request.limit, before > 0)
        } else if request.count {
            (page.total as u64 > request.limit, false)
        } else {
            let number: i64 = row.try_get("", "__rn")?;
            (number as u64 > request.limit, false)
        };
        if (page.rows.len() as u64) < request.limit {
            page.rows.push(model);
        }
        let (previous, next) = if request.backward {
            (more, earlier)
        } else {
            (earlier, more)
        };
        page.has_previous |= previous;
        page.has_next |= next;
    }
    if request.backward {
        for page in pages.values_mut() {
            page.rows.reverse();
        }
    }
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
