//! Keyset pagination in SQL, for root lists and, batched by parent, for nested lists.
//!
//! One SQL statement fetches a page for every parent of a batch: window functions count each
//! parent's rows (`totalCount`), number them in the requested order after the cursor, and the
//! outer query keeps the first `limit` of each. `last`/`before` run the same query in the reverse
//! order and flip the rows back.

use std::collections::HashMap;

use sea_orm::sea_query::{
    Alias, Asterisk, Condition, Expr, ExprTrait, Func, Order as SqlOrder, Query, SelectStatement,
    WindowStatement,
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
