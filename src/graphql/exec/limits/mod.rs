//! Operation limits, each configurable. A refused operation is a 400 with a code, and no
//! resolver runs: every check happens while parsing or validating.
//!
//! The defaults, and where they come from:
//! - depth 15: the playground's own introspection query must pass (graphql-js 16's is 14 deep
//!   as async-graphql counts, 15 as design.md counts; its `ofType` chain grows in newer ones);
//!   Apollo Router allows 100 and graphql-armor 6 (with introspection exempt); 15 also fits
//!   the deepest dashboard path (broker → organizations → users → subscriptions, 13).
//! - fields 2,000, every fragment expanded where it is spread (fields, spreads and inline
//!   fragments each count): the playground's introspection query reaches 218 and the heaviest
//!   dashboard a few dozen, so 2,000 leaves a margin of ten; a document of 32 KiB without
//!   fragments can hold a few thousand, and async-graphql's checks and visitors, which walk the
//!   expansion, then walk at most 2,000 nodes each (microseconds, where 2^28 took minutes).
//! - complexity 50,000: each field costs 1, a connection multiplies what it selects by the
//!   page it asks for (`first`/`last`, 20 when absent), the way GitHub counts nodes (GitHub caps
//!   at 500,000 nodes; graphql-armor's default cost limit is 5,000). The heaviest dashboard
//!   (50 organizations × 20 users) costs about 7,000; 100 × 100 × 100 is refused.
//!   Introspection is costed the same way, by what it answers: each field and each item of its
//!   lists (types, fields, arguments, enum values, ...), counted against the schema itself
//!   ([`introspection`]); the playground's introspection query costs about 6,000 (async-graphql
//!   would count 208), so a handful of aliased copies is refused. The rest of a document is
//!   costed by async-graphql, each part against this limit.
//! - aliases 30, root fields 20: Apollo Router's defaults (graphql-armor allows 15 aliases).
//! - directives per field 10: graphql-armor allows 50 per operation; more than a handful on a
//!   single field is never legitimate.
//! - query document 32 KiB: the introspection query is about 2 KiB; graphql-armor caps tokens
//!   at 1,000, which a 32 KiB document of real queries does not reach.
//! - arguments 20 per field or directive: the widest field of the schema takes 6. Bounding
//!   them bounds what async-graphql's OverlappingFieldsCanBeMerged does per pair of fields
//!   with one response name (it compares every argument of one with the other's, and reports
//!   an error for each that differs: quadratic in the arguments, unbounded without this).
//! - nodes 10,000, every fragment expanded where it is spread: fields, spreads and inline
//!   fragments, and the directives, arguments and values (each list item and object field) on
//!   them; what async-graphql's validation rules walk, each of them once per node. The
//!   playground's introspection query reaches about 230, a dashboard under a hundred. Without
//!   it a fragment with one field of 8,000 arguments, spread 2,000 times (within the fields
//!   limit), would have validation walk 16 million arguments and report an error for each.
//! - directives 10 on any one location (a field, spread, inline fragment, fragment, operation
//!   or variable), checked here: async-graphql checks fields only.
//! - batch 10 operations (graphql-armor and Apollo Router leave batching off by default).
//! - request time-out 30 s, Apollo Router's default.

mod introspection;
mod measure;

use std::collections::HashSet;
use std::time::Duration;

use async_graphql::parser::types::{Directive, ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Positioned, ServerResult};
use async_graphql_value::{Name, Value};

use super::errors::with_code;
use crate::error::ErrorCode;

use measure::{MAX_NESTING, Measure, Measurer, Unmeasurable};

/// The limits of one operation.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct Limits {
    /// Deepest selection nesting.
    #[arg(
        long,
        env = "BROKERGRAPH_MAX_DEPTH",
        default_value_t = Limits::DEFAULTS.max_depth,
        global = true
    )]
    pub max_depth: usize,
    /// Most fields an operation reaches, every fragment counted each time it is spread.
    #[arg(
        long,
        env = "BROKERGRAPH_MAX_FIELDS",
        default_value_t = Limits::DEFAULTS.max_fields,
        global = true
    )]
    pub max_fields: usize,
    /// Highest cost (fields, multiplied by the page sizes of connections).
    #[arg(
        long,
        env = "BROKERGRAPH_MAX_COMPLEXITY",
        default_value_t = Limits::DEFAULTS.max_complexity,
        global = true
    )]
    pub max_complexity: usize,
    /// Most aliased fields in one document.
    #[arg(
        long,
        env = "BROKERGRAPH_MAX_ALIASES",
        default_value_t = Limits::DEFAULTS.max_aliases,
        global = true
    )]
    pub max_aliases: usize,
    /// Most fields at the root of the operation.
    #[arg(
        long,
        env = "BROKERGRAPH_MAX_ROOT_FIELDS",
        default_value_t = Limits::DEFAULTS.max_root_fields,
        global = true
    )]
    pub max_root_fields: usize,
    /// Most directives on one field, fragment spread, inline fragment, fragment, operation or
    /// variable.
    #[arg(
        long,
        env = "BROKERGRAPH_MAX_DIRECTIVES",
        default_value_t = Limits::DEFAULTS.max_directives,
        global = true
    )]
    pub max_directives: usize,
    /// Largest query document, in bytes.
    #[arg(long, env = "BROKERGRAPH_MAX_QUERY_BYTES", default_value_t = Limits::DEFAULTS.max_query_bytes, global = true)]
    pub max_query_bytes: usize,
    /// Longest a request may run, in seconds.
    #[arg(
        long,
        env = "BROKERGRAPH_REQUEST_TIMEOUT",
        default_value_t = Limits::DEFAULTS.request_timeout_seconds,
        global = true
    )]
    pub request_timeout_seconds: u64,
    /// Serve the schema's introspection and the playground (`false` also turns off field
    /// suggestions in error messages).
    #[arg(long, env = "BROKERGRAPH_INTROSPECTION", default_value_t = Limits::DEFAULTS.introspection, action = clap::ArgAction::Set, global = true)]
    pub introspection: bool,
    /// Most arguments on one field or directive.
    #[arg(
        long,
        env = "BROKERGRAPH_MAX_ARGUMENTS",
        default_value_t = Limits::DEFAULTS.max_arguments,
        global = true
    )]
    pub max_arguments: usize,
    /// Most fields, fragment spreads, inline fragments, directives, arguments and values an
    /// operation reaches, every fragment counted each time it is spread.
    #[arg(
        long,
        env = "BROKERGRAPH_MAX_NODES",
        default_value_t = Limits::DEFAULTS.max_nodes,
        global = true
    )]
    pub max_nodes: usize,
}

impl Limits {
    /// The limits when nothing is configured: the one copy that both `Default` and the
    /// command line's defaults read, so a test on `Default` tests what the server runs.
    pub const DEFAULTS: Limits = Limits {
        max_depth: 15,
        max_fields: 2_000,
        max_complexity: 50_000,
        max_aliases: 30,
        max_root_fields: 20,
        max_directives: 10,
        max_query_bytes: 32 * 1024,
        request_timeout_seconds: 30,
        introspection: true,
        max_arguments: 20,
        max_nodes: 10_000,
    };

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_seconds)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULTS
    }
}

/// What a connection field costs per selected child: its page size.
pub fn page_cost(first: Option<i32>, last: Option<i32>) -> usize {
    first
        .or(last)
        .unwrap_or(crate::graphql::relay::pagination::DEFAULT_PAGE_SIZE as i32)
        .clamp(1, crate::graphql::relay::pagination::MAX_PAGE_SIZE as i32) as usize
}

fn count_aliases(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|selection| match &selection.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some())
                    + count_aliases(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => count_aliases(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

/// Fields at the root, through fragments (each fragment counted once, so cycles end).
fn count_root_fields<'a>(
    document: &'a ExecutableDocument,
    set: &'a SelectionSet,
    seen: &mut HashSet<&'a str>,
) -> usize {
    set.items
        .iter()
        .map(|selection| match &selection.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(fragment) => {
                count_root_fields(document, &fragment.node.selection_set.node, seen)
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                match document.fragments.get(name) {
                    Some(fragment) if seen.insert(name) => {
                        count_root_fields(document, &fragment.node.selection_set.node, seen)
                    }
                    _ => 0,
                }
            }
        })
        .sum()
}

/// Whether a root selection asks for `__schema` or `__type` (through fragments too).
fn asks_introspection<'a>(
    document: &'a ExecutableDocument,
    set: &'a SelectionSet,
    seen: &mut HashSet<&'a str>,
) -> bool {
    set.items.iter().any(|selection| match &selection.node {
        Selection::Field(field) => matches!(field.node.name.node.as_str(), "__schema" | "__type"),
        Selection::InlineFragment(fragment) => {
            asks_introspection(document, &fragment.node.selection_set.node, seen)
        }
        Selection::FragmentSpread(spread) => {
            let name = spread.node.fragment_name.node.as_str();
            match document.fragments.get(name) {
                Some(fragment) if seen.insert(name) => {
                    asks_introspection(document, &fragment.node.selection_set.node, seen)
                }
                _ => false,
            }
        }
    })
}

/// Refuses an operation whose fragment expansion is too large or too deep, measuring every
/// fragment once (see [`measure`]). It runs before anything else walks the document's
/// operations: async-graphql's own checks and visitors walk the expansion, and after this they
/// walk at most `max_fields` selections. Depth is checked here rather than by async-graphql,
/// whose depth visitor walks the expansion.
fn check_expansion(limits: &Limits, document: &ExecutableDocument) -> ServerResult<()> {
    let mut measurer = Measurer::new(document);
    let mut total = Measure::default();
    for (_, operation) in document.operations.iter() {
        let measure = measurer
            .selection_set(&operation.node.selection_set.node, 0)
            .map_err(|error| match error {
                Unmeasurable::Cycle(name) => ErrorCode::GraphqlValidationFailed.server_error(
                    format!("Cannot spread fragment \"{name}\" within itself"),
                ),
                Unmeasurable::TooNested => ErrorCode::MaxDepthExceeded.server_error(
                    format!(
                        "selections, fragment spreads included, nest more than {MAX_NESTING} levels deep"
                    ),
                ),
            })?;
        total.selections = total.selections.saturating_add(measure.selections);
        total.nodes = total.nodes.saturating_add(measure.nodes);
        total.depth = total.depth.max(measure.depth);
    }
    // What each operation's own directives and variables add (they are not spread).
    for (_, operation) in document.operations.iter() {
        let operation = &operation.node;
        total.nodes = total
            .nodes
            .saturating_add(measure::directives(&operation.directives));
        for variable in &operation.variable_definitions {
            let variable = &variable.node;
            let default = variable
                .default_value
                .as_ref()
                .map_or(0, |value| measure::const_value(&value.node));
            total.nodes = total
                .nodes
                .saturating_add(1 + default + measure::directives(&variable.directives));
        }
    }
    if total.selections > limits.max_fields as u64 {
        return Err(ErrorCode::MaxFieldsExceeded.server_error(format!(
            "the query reaches more than {} fields once its fragments are expanded",
            limits.max_fields
        )));
    }
    if total.nodes > limits.max_nodes as u64 {
        return Err(ErrorCode::MaxNodesExceeded.server_error(format!(
            "the query reaches more than {} fields, arguments, directives and values once its \
             fragments are expanded",
            limits.max_nodes
        )));
    }
    if total.depth > limits.max_depth {
        return Err(ErrorCode::MaxDepthExceeded.server_error(format!(
            "the query is {} fields deep; at most {} are allowed",
            total.depth, limits.max_depth
        )));
    }
    Ok(())
}

/// Refuses a location with more directives than `max_directives`, or a field or directive
/// with more arguments than `max_arguments`: each location of the document looked at once.
fn check_locations(limits: &Limits, document: &ExecutableDocument) -> ServerResult<()> {
    let arguments = |list: &[(Positioned<Name>, Positioned<Value>)], what: &str| {
        if list.len() > limits.max_arguments {
            return Err(ErrorCode::MaxArgumentsExceeded.server_error(format!(
                "{what} has {} arguments; at most {} are allowed",
                list.len(),
                limits.max_arguments
            )));
        }
        Ok(())
    };
    let directives = |list: &[Positioned<Directive>], what: &str| -> ServerResult<()> {
        if list.len() > limits.max_directives {
            return Err(ErrorCode::MaxDirectivesExceeded.server_error(format!(
                "{what} has {} directives; at most {} are allowed",
                list.len(),
                limits.max_directives
            )));
        }
        for directive in list {
            arguments(&directive.node.arguments, "a directive")?;
        }
        Ok(())
    };
    // Every selection set of the document, each once (spreads are not followed).
    let mut sets: Vec<&SelectionSet> = Vec::new();
    for (_, operation) in document.operations.iter() {
        let operation = &operation.node;
        directives(&operation.directives, "the operation")?;
        for variable in &operation.variable_definitions {
            directives(&variable.node.directives, "a variable")?;
        }
        sets.push(&operation.selection_set.node);
    }
    for fragment in document.fragments.values() {
        directives(&fragment.node.directives, "a fragment")?;
        sets.push(&fragment.node.selection_set.node);
    }
    while let Some(set) = sets.pop() {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    directives(&field.node.directives, "a field")?;
                    arguments(&field.node.arguments, "a field")?;
                    sets.push(&field.node.selection_set.node);
                }
                Selection::InlineFragment(fragment) => {
                    directives(&fragment.node.directives, "an inline fragment")?;
                    sets.push(&fragment.node.selection_set.node);
                }
                Selection::FragmentSpread(spread) => {
                    directives(&spread.node.directives, "a fragment spread")?;
                }
            }
        }
    }
    Ok(())
}

/// Parses a query document and applies the limits async-graphql has no setting for (or none it
/// applies without walking the fragment expansion): its size, fields and depth with fragments
/// expanded, aliases, root fields and (when it is off) introspection. The HTTP handler and the
/// WebSocket schema both call this before async-graphql runs the document (which then checks
/// complexity and directives while validating).
pub fn check_document(limits: &Limits, query: &str) -> ServerResult<ExecutableDocument> {
    if query.len() > limits.max_query_bytes {
        return Err(ErrorCode::MaxQuerySizeExceeded.server_error(format!(
            "the query document is larger than {} bytes",
            limits.max_query_bytes
        )));
    }
    let document = async_graphql::parser::parse_query(query)
        .map_err(|error| with_code(error.into(), ErrorCode::GraphqlParseFailed))?;
    check_locations(limits, &document)?;
    check_expansion(limits, &document)?;
    let aliases: usize = document
        .operations
        .iter()
        .map(|(_, operation)| count_aliases(&operation.node.selection_set.node))
        .chain(
            document
                .fragments
                .values()
                .map(|fragment| count_aliases(&fragment.node.selection_set.node)),
        )
        .sum();
    if aliases > limits.max_aliases {
        return Err(ErrorCode::MaxAliasesExceeded.server_error(format!(
            "the query has {aliases} aliases; at most {} are allowed",
            limits.max_aliases
        )));
    }
    let mut introspection =
        introspection::Cost::new(&introspection::MODEL, &document, limits.max_complexity);
    for (_, operation) in document.operations.iter() {
        let selection = &operation.node.selection_set.node;
        if introspection.operation(selection).is_err() {
            return Err(ErrorCode::MaxComplexityExceeded.server_error(format!(
                "the query's introspection answers more than {} fields and items",
                limits.max_complexity
            )));
        }
        if !limits.introspection && asks_introspection(&document, selection, &mut HashSet::new()) {
            // async-graphql would answer `null` for these; a refusal is clearer.
            return Err(ErrorCode::GraphqlValidationFailed
                .server_error("introspection is disabled on this server"));
        }
        let roots = count_root_fields(&document, selection, &mut HashSet::new());
        if roots > limits.max_root_fields {
            return Err(ErrorCode::MaxRootFieldsExceeded.server_error(format!(
                "the operation has {roots} root fields; at most {} are allowed",
                limits.max_root_fields
            )));
        }
    }
    Ok(document)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, clap::Parser)]
    struct TestCli {
        #[command(flatten)]
        limits: Limits,
    }

    /// The server runs clap's defaults, the tests and `graphql::schema()` run `Default`: they
    /// must be the same limits.
    #[test]
    fn default_is_what_the_command_line_gives_without_flags() {
        let parsed = <TestCli as clap::Parser>::try_parse_from(["test"]).unwrap();
        assert_eq!(parsed.limits, Limits::default());
    }

    #[test]
    fn page_cost_is_the_page_size_within_bounds() {
        assert_eq!(page_cost(None, None), 20);
        assert_eq!(page_cost(Some(50), None), 50);
        assert_eq!(page_cost(None, Some(7)), 7);
        assert_eq!(page_cost(Some(-3), None), 1);
        assert_eq!(page_cost(Some(1000), None), 100);
    }

    /// What GraphiQL sends (graphql-js 16's `getIntrospectionQuery` with every option on).
    const INTROSPECTION_QUERY: &str =
        include_str!("../../../../tests/fixtures/introspection.graphql");

    #[test]
    fn the_playground_introspection_query_is_well_within_the_default_limits() {
        let document = async_graphql::parser::parse_query(INTROSPECTION_QUERY).unwrap();
        let (_, operation) = document.operations.iter().next().unwrap();
        let measure = Measurer::new(&document)
            .selection_set(&operation.node.selection_set.node, 0)
            .unwrap();
        let limits = Limits::default();
        assert!(
            measure.selections * 5 <= limits.max_fields as u64,
            "{measure:?}"
        );
        assert_eq!(measure.depth, 14);
        assert!(measure.nodes * 20 <= limits.max_nodes as u64, "{measure:?}");
        assert!(check_document(&limits, INTROSPECTION_QUERY).is_ok());
        let mut cost = introspection::Cost::new(&introspection::MODEL, &document, usize::MAX);
        cost.operation(&operation.node.selection_set.node).unwrap();
        // It passes with a margin, and a handful of aliased copies does not.
        assert!(cost.spent() * 4 < limits.max_complexity, "{}", cost.spent());
        assert!(
            cost.spent() * 10 > limits.max_complexity,
            "{}",
            cost.spent()
        );
    }

    #[test]
    fn aliases_and_root_fields_are_counted_through_fragments() {
        let document = async_graphql::parser::parse_query(
            "query { a: brokers { totalCount } ...F ... on Query { c: brokers { totalCount } } }
             fragment F on Query { b: brokers { totalCount } users { totalCount } ...F }",
        )
        .unwrap();
        let (_, operation) = document.operations.iter().next().unwrap();
        assert_eq!(count_aliases(&operation.node.selection_set.node), 2);
        let roots = count_root_fields(
            &document,
            &operation.node.selection_set.node,
            &mut HashSet::new(),
        );
        assert_eq!(roots, 4);
    }
}
