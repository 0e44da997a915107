//! In-place resolution: an object's scalar and enum fields resolved by calling each field's
//! resolver once, without a future per field, for the nodes of a connection
//! ([`crate::graphql::relay::connection`]) and the objects relations and lookups return
//! ([`InPlace`]).
//!
//! It rests on two assumptions, each tested:
//! - our leaf resolvers never wait, so each is ready when first polled: one that is not sends its
//!   node the usual way (still right, but slower) and is counted ([`leaves_not_ready`], which
//!   `tests/api/connections.rs` expects to stay zero over every leaf of every type);
//! - batching by yielding: a node's other fields (objects, connections: they load through the
//!   DataLoader) are resolved by async-graphql, those of all the page's nodes concurrently, and
//!   every one is polled before any waits, so every sibling has asked for its key before the
//!   level's batch loads: one statement per level (`tests/api/statements.rs` follows every
//!   relation over more nodes than async-graphql resolves between yields and counts them).
//!
//! One that fails is reported and left out, as async-graphql does. Anything else goes
//! async-graphql's way: a leaf resolver that is not ready or fails (a field guard) sends its node
//! the usual way, which reports the error with its path as before; a node selection with
//! fragments, directives or a response key used twice is resolved the usual way.

use std::borrow::Cow;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context as TaskContext, Poll, Waker};

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{
    ContainerType, ContextSelectionSet, Name, OutputType, Positioned, ServerResult, Value,
};

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

/// The plain fields of a selection (no fragments, no directives, each response key once), or
/// `None`.
pub(crate) fn plain_fields(set: &SelectionSet) -> Option<Vec<(Name, &Positioned<Field>)>> {
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
pub(crate) enum NodeSelection<'q> {
    /// Plain fields (each marked whether it is a scalar or an enum): leaves are resolved in
    /// place, the other fields of a node concurrently.
    Fields(Vec<(Name, &'q Positioned<Field>, bool)>),
    /// The usual way (fragments, directives, a repeated key).
    Resolved,
}

impl<'q> NodeSelection<'q> {
    pub(crate) fn of<N: OutputType>(
        registry: &Registry,
        node_field: &'q Positioned<Field>,
    ) -> Self {
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
pub(crate) async fn resolve_node<N: ContainerType>(
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

/// The values of a page's items: in place when every one is ready, else all concurrently (so
/// that their loads batch).
pub(crate) async fn collect<F>(items: impl Iterator<Item = F>) -> ServerResult<Value>
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
