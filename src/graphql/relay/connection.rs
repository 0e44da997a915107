//! The connection every list field returns, resolved without a future per field where it can.
//!
//! async-graphql resolves every field of every object as a boxed future of its own, run
//! through a `FuturesUnordered` per object: for a dashboard page of 50 organizations × 20 users
//! that is some 6,000 futures and 2,000 task sets for values that are already in memory. This
//! type is the same GraphQL type as async-graphql's `Connection` (it registers that type, so the
//! schema is unchanged), but resolves its own parts (`totalCount`, `pageInfo`, `edges`,
//! `cursor`, `nodes`, `__typename`) directly, and each node's scalar and enum fields by calling
//! the field's resolver once: our scalar resolvers never wait, so each is ready at once. A
//! node's other fields (objects, connections: they load through the DataLoader) are resolved by
//! async-graphql, those of all the page's nodes concurrently, so their loads still batch into
//! one statement per level; one that fails is reported and left out, as async-graphql does.
//! Anything else goes async-graphql's way:
//!
//! - a leaf resolver that is not ready or fails (a field guard) sends its node the usual way,
//!   which reports the error with its path as before;
//! - a node selection with fragments, directives or a response key used twice is resolved the
//!   usual way;
//! - a connection selection with any of those is resolved entirely by async-graphql's
//!   `Connection`, built over the same page.
//!
//! Fields come out in the order they were selected (async-graphql's own resolution emits them in
//! the order they complete). `tests/api/connections.rs` runs queries both ways and compares.

use std::borrow::Cow;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context as TaskContext, Poll, Waker};

use async_graphql::connection::{Connection, Edge};
use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{
    ContainerType, ContextSelectionSet, Name, OutputType, Positioned, ServerResult, Value,
};

use super::pagination::{ConnectionFields, Cursor, SealedCursor};
use crate::crypto::TokenSealer;

/// A page of a list as a Relay connection.
pub struct Conn<N> {
    edges: Vec<(Cursor, N)>,
    /// Seals a cursor when a client selects it (most selections never ask for one).
    sealer: Arc<TokenSealer>,
    total: i64,
    has_previous: bool,
    has_next: bool,
}

/// async-graphql's connection of the same GraphQL type, over the same nodes.
type Generic<'a, N> = Connection<SealedCursor, &'a N, ConnectionFields>;

impl<N> Conn<N> {
    pub fn new(
        edges: Vec<(Cursor, N)>,
        sealer: Arc<TokenSealer>,
        total: i64,
        has_previous: bool,
        has_next: bool,
    ) -> Self {
        Conn {
            edges,
            sealer,
            total,
            has_previous,
            has_next,
        }
    }

    fn sealed(&self, cursor: &Cursor) -> String {
        cursor.seal(&self.sealer)
    }

    fn generic(&self) -> Generic<'_, N>
    where
        N: OutputType,
    {
        let mut connection = Connection::with_additional_fields(
            self.has_previous,
            self.has_next,
            ConnectionFields {
                total_count: self.total,
            },
        );
        connection.edges = self
            .edges
            .iter()
            .map(|(cursor, node)| Edge::new(SealedCursor(self.sealed(cursor)), node))
            .collect();
        connection
    }
}

impl<N: ContainerType> OutputType for Conn<N> {
    fn type_name() -> Cow<'static, str> {
        Generic::<N>::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        Generic::<N>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        match plan(ctx.item) {
            Some(parts) => self.resolve_parts(ctx, parts).await,
            None => self.generic().resolve(ctx, field).await,
        }
    }
}

/// An object a relation or a lookup returns, resolved like a connection's node: its leaves in
/// place, its other fields concurrently. The same GraphQL type as `T`.
pub struct InPlace<T>(pub T);

impl<T: ContainerType> OutputType for InPlace<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let selection = NodeSelection::of::<T>(&ctx.schema_env.registry, field);
        resolve_node(&self.0, ctx, field, &selection).await
    }
}

/// A part of a connection's selection this type resolves itself.
enum Part<'q> {
    Typename,
    TotalCount,
    PageInfo(Vec<(Name, PageInfoField)>),
    Edges(&'q Positioned<Field>, Vec<(Name, EdgeField<'q>)>),
    Nodes(&'q Positioned<Field>),
}

#[derive(Clone, Copy)]
enum PageInfoField {
    Typename,
    HasPreviousPage,
    HasNextPage,
    StartCursor,
    EndCursor,
}

enum EdgeField<'q> {
    Typename,
    Cursor,
    Node(&'q Positioned<Field>),
}

/// The plain fields of a selection (no fragments, no directives, each response key once), or
/// `None`.
fn plain_fields(set: &SelectionSet) -> Option<Vec<(Name, &Positioned<Field>)>> {
    let mut fields: Vec<(Name, &Positioned<Field>)> = Vec::with_capacity(set.items.len());
    for selection in &set.items {
        let Selection::Field(field) = &selection.node else {
            return None;
        };
        if !field.node.directives.is_empty() {
            return None;
        }
        let key = field.node.response_key().node.clone();
        if fields.iter().any(|(seen, _)| *seen == key) {
            return None;
        }
        fields.push((key, field));
    }
    Some(fields)
}

/// The plain fields of `field`'s selection, each named by `which` (`None` for a field it does
/// not know, which sends the whole connection the usual way).
fn sub_plan<'q, T>(
    field: &'q Positioned<Field>,
    which: impl Fn(&str, &'q Positioned<Field>) -> Option<T>,
) -> Option<Vec<(Name, T)>> {
    plain_fields(&field.node.selection_set.node)?
        .into_iter()
        .map(|(key, field)| Some((key, which(field.node.name.node.as_str(), field)?)))
        .collect()
}

fn plan(set: &Positioned<SelectionSet>) -> Option<Vec<(Name, Part<'_>)>> {
    plain_fields(&set.node)?
        .into_iter()
        .map(|(key, field)| {
            let part = match field.node.name.node.as_str() {
                "__typename" => Part::Typename,
                "totalCount" => Part::TotalCount,
                "pageInfo" => Part::PageInfo(sub_plan(field, |name, _| match name {
                    "__typename" => Some(PageInfoField::Typename),
                    "hasPreviousPage" => Some(PageInfoField::HasPreviousPage),
                    "hasNextPage" => Some(PageInfoField::HasNextPage),
                    "startCursor" => Some(PageInfoField::StartCursor),
                    "endCursor" => Some(PageInfoField::EndCursor),
                    _ => None,
                })?),
                "edges" => Part::Edges(
                    field,
                    sub_plan(field, |name, field| match name {
                        "__typename" => Some(EdgeField::Typename),
                        "cursor" => Some(EdgeField::Cursor),
                        "node" => Some(EdgeField::Node(field)),
                        _ => None,
                    })?,
                ),
                "nodes" => Part::Nodes(field),
                _ => return None,
            };
            Some((key, part))
        })
        .collect()
}

/// Leaf resolvers that were not ready when polled in place. The in-place path rests on "our
/// leaf resolvers never wait"; one that starts waiting still answers right (its node goes the
/// usual way) but silently loses the in-place path, so it is counted here, and
/// `tests/api/connections.rs` resolves every leaf of every object type and expects no count.
static LEAVES_NOT_READY: AtomicUsize = AtomicUsize::new(0);

/// How many leaf resolvers have not been ready at once since the process started.
pub fn leaves_not_ready() -> usize {
    LEAVES_NOT_READY.load(Ordering::Relaxed)
}

/// Polls a future once: its output if it needs no waiting.
fn ready<F: Future>(future: F) -> Option<F::Output> {
    let future = pin!(future);
    match future.poll(&mut TaskContext::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// How the nodes of a page are resolved.
enum NodeSelection<'q> {
    /// Plain fields (each marked whether it is a scalar or an enum): leaves are resolved in
    /// place, the other fields of a node concurrently.
    Fields(Vec<(Name, &'q Positioned<Field>, bool)>),
    /// The usual way (fragments, directives, a repeated key).
    Resolved,
}

impl<'q> NodeSelection<'q> {
    fn of<N: OutputType>(registry: &Registry, node_field: &'q Positioned<Field>) -> Self {
        let Some(fields) = plain_fields(&node_field.node.selection_set.node) else {
            return NodeSelection::Resolved;
        };
        let Some(object) = registry.types.get(N::type_name().as_ref()) else {
            return NodeSelection::Resolved;
        };
        let fields = fields
            .into_iter()
            .map(|(key, field)| {
                let name = field.node.name.node.as_str();
                let leaf = name == "__typename"
                    || object
                        .field_by_name(name)
                        .and_then(|meta| registry.concrete_type_by_name(&meta.ty))
                        .is_some_and(|ty| ty.is_leaf());
                (key, field, leaf)
            })
            .collect();
        NodeSelection::Fields(fields)
    }
}

type FieldFuture<'a> =
    std::pin::Pin<Box<dyn Future<Output = ServerResult<Option<Value>>> + Send + 'a>>;

/// One node: its leaves in place and its other fields concurrently, or the usual way when a
/// leaf is not ready or fails (the usual way then reports the error with its path).
async fn resolve_node<N: ContainerType>(
    node: &N,
    ctx: &ContextSelectionSet<'_>,
    field: &Positioned<Field>,
    selection: &NodeSelection<'_>,
) -> ServerResult<Value> {
    let NodeSelection::Fields(fields) = selection else {
        return node.resolve(ctx, field).await;
    };
    let mut object = IndexMap::with_capacity(fields.len());
    let mut others = Vec::new();
    for (key, field, leaf) in fields {
        let value = if field.node.name.node == "__typename" {
            Value::String(node.introspection_type_name().into_owned())
        } else if *leaf {
            match ready(node.resolve_field(&ctx.with_field(field))) {
                Some(Ok(Some(value))) => value,
                // A failure (a field guard) is reported the usual way, with its path.
                Some(_) => return node.resolve(ctx, field).await,
                None => {
                    LEAVES_NOT_READY.fetch_add(1, Ordering::Relaxed);
                    return node.resolve(ctx, field).await;
                }
            }
        } else {
            others.push((key, *field));
            Value::Null
        };
        object.insert(key.clone(), value);
    }
    if !others.is_empty() {
        // As async-graphql's own objects do: a field that fails is reported and left out.
        let contexts: Vec<_> = others
            .iter()
            .map(|(_, field)| ctx.with_field(field))
            .collect();
        // Boxed: a field's future may hold another connection's (the types nest).
        let values = futures_util::future::join_all(contexts.iter().map(|context| {
            let future: FieldFuture<'_> = Box::pin(node.resolve_field(context));
            future
        }))
        .await;
        for ((key, _), value) in others.into_iter().zip(values) {
            match value {
                Ok(value) => {
                    object.insert(key.clone(), value.unwrap_or_default());
                }
                Err(error) => {
                    ctx.add_error(error);
                    object.shift_remove(key);
                }
            }
        }
    }
    Ok(Value::Object(object))
}

impl<N: ContainerType> Conn<N> {
    async fn resolve_parts(
        &self,
        ctx: &ContextSelectionSet<'_>,
        parts: Vec<(Name, Part<'_>)>,
    ) -> ServerResult<Value> {
        let mut object = IndexMap::with_capacity(parts.len());
        for (key, part) in parts {
            let value = match part {
                Part::Typename => Value::String(Self::type_name().into_owned()),
                Part::TotalCount => Value::Number(self.total.into()),
                Part::PageInfo(fields) => self.page_info(&fields),
                Part::Edges(field, edge_fields) => {
                    self.resolve_edges(ctx, field, &edge_fields).await?
                }
                Part::Nodes(field) => self.resolve_nodes(ctx, field).await?,
            };
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }

    fn page_info(&self, fields: &[(Name, PageInfoField)]) -> Value {
        let cursor = |edge: Option<&(Cursor, N)>| {
            edge.map_or(Value::Null, |(cursor, _)| {
                Value::String(self.sealed(cursor))
            })
        };
        let object = fields
            .iter()
            .map(|(key, which)| {
                let value = match which {
                    PageInfoField::Typename => Value::String("PageInfo".into()),
                    PageInfoField::HasPreviousPage => Value::Boolean(self.has_previous),
                    PageInfoField::HasNextPage => Value::Boolean(self.has_next),
                    PageInfoField::StartCursor => cursor(self.edges.first()),
                    PageInfoField::EndCursor => cursor(self.edges.last()),
                };
                (key.clone(), value)
            })
            .collect();
        Value::Object(object)
    }

    async fn resolve_edges(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
        fields: &[(Name, EdgeField<'_>)],
    ) -> ServerResult<Value> {
        let ctx_field = ctx.with_field(field);
        let ctx_list = ctx_field.with_selection_set(&field.node.selection_set);
        let node_field = fields.iter().find_map(|(_, which)| match which {
            EdgeField::Node(field) => Some(*field),
            _ => None,
        });
        let selection =
            node_field.map(|field| NodeSelection::of::<N>(&ctx.schema_env.registry, field));
        let edge_type =
            Edge::<SealedCursor, N, async_graphql::connection::EmptyFields>::type_name();
        let edges = self
            .edges
            .iter()
            .enumerate()
            .map(|(index, (cursor, node))| {
                let ctx_list = &ctx_list;
                let selection = &selection;
                let edge_type = &edge_type;
                async move {
                    let ctx_edge = ctx_list.with_index(index);
                    let mut object = IndexMap::with_capacity(fields.len());
                    for (key, which) in fields {
                        let value = match which {
                            EdgeField::Typename => Value::String(edge_type.to_string()),
                            EdgeField::Cursor => Value::String(self.sealed(cursor)),
                            EdgeField::Node(field) => {
                                let ctx_node_field = ctx_edge.with_field(field);
                                let ctx_node =
                                    ctx_node_field.with_selection_set(&field.node.selection_set);
                                let selection =
                                    selection.as_ref().unwrap_or(&NodeSelection::Resolved);
                                resolve_node(node, &ctx_node, field, selection).await?
                            }
                        };
                        object.insert(key.clone(), value);
                    }
                    ServerResult::Ok(Value::Object(object))
                }
            });
        collect(edges).await
    }

    async fn resolve_nodes(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let ctx_field = ctx.with_field(field);
        let ctx_list = ctx_field.with_selection_set(&field.node.selection_set);
        let selection = NodeSelection::of::<N>(&ctx.schema_env.registry, field);
        let nodes = self.edges.iter().enumerate().map(|(index, (_, node))| {
            let ctx_list = &ctx_list;
            let selection = &selection;
            async move {
                let ctx_node = ctx_list.with_index(index);
                resolve_node(node, &ctx_node, field, selection).await
            }
        });
        collect(nodes).await
    }
}

/// The values of a page's items: in place when every one is ready, else all concurrently (so
/// that their loads batch).
async fn collect<F>(items: impl Iterator<Item = F>) -> ServerResult<Value>
where
    F: Future<Output = ServerResult<Value>>,
{
    let mut values = Vec::new();
    let mut waiting = Vec::new();
    for item in items {
        let mut item = Box::pin(item);
        match item
            .as_mut()
            .poll(&mut TaskContext::from_waker(Waker::noop()))
        {
            Poll::Ready(value) if waiting.is_empty() => values.push(value?),
            Poll::Ready(value) => waiting.push(futures_util::future::Either::Left(
                futures_util::future::ready(value),
            )),
            Poll::Pending => waiting.push(futures_util::future::Either::Right(item)),
        }
    }
    if !waiting.is_empty() {
        values.extend(futures_util::future::try_join_all(waiting).await?);
    }
    Ok(Value::List(values))
}
