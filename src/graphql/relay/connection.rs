//! The connection every list field returns, resolved without a future per field where it can.
//!
//! async-graphql resolves every field of every object as a boxed future of its own, run
//! through a `FuturesUnordered` per object: for a dashboard page of 50 organizations × 20 users
//! that is some 6,000 futures and 2,000 task sets for values that are already in memory. This
//! type is the same GraphQL type as async-graphql's `Connection` (it registers that type, so the
//! schema is unchanged), but resolves its own parts (`totalCount`, `pageInfo`, `edges`,
//! `cursor`, `nodes`, `__typename`) directly, and its nodes in place
//! ([`crate::graphql::exec::in_place`]). A connection selection with fragments, directives or a
//! response key used twice is resolved entirely by async-graphql's `Connection`, built over the
//! same page.
//!
//! Fields come out in the order they were selected (async-graphql's own resolution emits them in
//! the order they complete). `tests/api/connections.rs` runs queries both ways and compares.

use std::borrow::Cow;
use std::sync::Arc;

use async_graphql::connection::{Connection, Edge};
use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{Field, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{
    ContainerType, ContextSelectionSet, Name, OutputType, Positioned, ServerResult, Value,
};

use super::cursor::{Cursor, SealedCursor};
use super::pagination::ConnectionFields;
use crate::crypto::TokenSealer;
use crate::graphql::exec::in_place::{NodeSelection, collect, plain_fields, resolve_node};

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
