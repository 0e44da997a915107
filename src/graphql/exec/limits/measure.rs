//! The size of an operation as it runs: every fragment expanded where it is spread, measured
//! in time linear in the document.
//!
//! A fragment spread twice in each of 28 nested fragments expands to 2^28 fields from 1 KB of
//! text, and async-graphql walks that expansion several times before anything runs (its
//! recursion and directive checks, then its depth, complexity and cache-control visitors).
//! Here each fragment is measured once and its measure reused at every spread, so the
//! expansion is counted, never walked; a document whose expansion is too large is refused
//! before any of those walks starts.

use std::collections::HashMap;

use async_graphql::Positioned;
use async_graphql::parser::types::{Directive, ExecutableDocument, Selection, SelectionSet};
use async_graphql_value::{ConstValue, Name, Value};

/// async-graphql's own bound on nested selection sets (fields with a selection, fragment
/// spreads and inline fragments each add a level). It is checked here first, so that the
/// measuring below never recurses deeper than this, however long a chain of fragments is.
pub const MAX_NESTING: usize = 32;

/// What an operation, or one fragment, expands to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Measure {
    /// Fields, fragment spreads and inline fragments, each counted every time the expansion
    /// reaches it: what async-graphql's visitors walk. Saturates rather than overflows.
    pub selections: u64,
    /// The deepest chain of fields, as async-graphql counts depth: every field on the path,
    /// the leaf included, `__typename` excluded; fragments add nothing.
    pub depth: usize,
    /// The deepest chain of nested selection sets, as async-graphql's recursion check counts.
    pub nesting: usize,
    /// The selections and, on them, their directives, arguments and values (each list item
    /// and object field), each counted every time the expansion reaches it: what
    /// async-graphql's validation rules walk. Saturates rather than overflows.
    pub nodes: u64,
}

/// The nodes of a value: itself and every list item and object field within, counted without
/// recursion (a value may nest as deep as the document is long).
fn value_nodes<'v, V: 'v>(root: &'v V, children: impl Fn(&'v V, &mut Vec<&'v V>)) -> u64 {
    let mut count = 0u64;
    let mut pending = vec![root];
    while let Some(value) = pending.pop() {
        count = count.saturating_add(1);
        children(value, &mut pending);
    }
    count
}

/// The nodes of a value of the document (variables allowed).
pub fn value(root: &Value) -> u64 {
    value_nodes(root, |value, pending| match value {
        Value::List(items) => pending.extend(items),
        Value::Object(fields) => pending.extend(fields.values()),
        _ => {}
    })
}

/// The nodes of a constant value (a variable's default).
pub fn const_value(root: &ConstValue) -> u64 {
    value_nodes(root, |value, pending| match value {
        ConstValue::List(items) => pending.extend(items),
        ConstValue::Object(fields) => pending.extend(fields.values()),
        _ => {}
    })
}

/// The nodes of arguments: each, and its value.
pub fn arguments(arguments: &[(Positioned<Name>, Positioned<Value>)]) -> u64 {
    arguments.iter().fold(0u64, |total, (_, argument)| {
        total
            .saturating_add(1)
            .saturating_add(value(&argument.node))
    })
}

/// The nodes of directives: each, and its arguments.
pub fn directives(directives: &[Positioned<Directive>]) -> u64 {
    directives.iter().fold(0u64, |total, directive| {
        total
            .saturating_add(1)
            .saturating_add(arguments(&directive.node.arguments))
    })
}

/// Why a document cannot be measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unmeasurable {
    /// A fragment spreads itself, directly or through others; its expansion never ends.
    Cycle(String),
    /// Selection sets nest deeper than [`MAX_NESTING`].
    TooNested,
}

enum State {
    InProgress,
    Done(Measure),
}

/// Measures every fragment of `document` at most once.
pub struct Measurer<'a> {
    document: &'a ExecutableDocument,
    fragments: HashMap<&'a str, State>,
}

impl<'a> Measurer<'a> {
    pub fn new(document: &'a ExecutableDocument) -> Self {
        Measurer {
            document,
            fragments: HashMap::new(),
        }
    }

    /// The measure of a selection set entered at nesting `level` (an operation's is 0).
    pub fn selection_set(
        &mut self,
        set: &'a SelectionSet,
        level: usize,
    ) -> Result<Measure, Unmeasurable> {
        if level > MAX_NESTING {
            return Err(Unmeasurable::TooNested);
        }
        let mut total = Measure::default();
        for selection in &set.items {
            // The selection's own directives and arguments, wherever it is reached.
            let own = match &selection.node {
                Selection::Field(field) => directives(&field.node.directives)
                    .saturating_add(arguments(&field.node.arguments)),
                Selection::InlineFragment(fragment) => directives(&fragment.node.directives),
                Selection::FragmentSpread(spread) => directives(&spread.node.directives),
            };
            let inner = match &selection.node {
                Selection::Field(field) => {
                    let sub = &field.node.selection_set.node;
                    let mut inner = if sub.items.is_empty() {
                        Measure::default()
                    } else {
                        let mut inner = self.selection_set(sub, level + 1)?;
                        inner.nesting += 1;
                        inner
                    };
                    if field.node.name.node != "__typename" {
                        inner.depth += 1;
                    }
                    inner
                }
                Selection::InlineFragment(fragment) => {
                    let mut inner =
                        self.selection_set(&fragment.node.selection_set.node, level + 1)?;
                    inner.nesting += 1;
                    inner
                }
                Selection::FragmentSpread(spread) => {
                    let mut inner = self.fragment(&spread.node.fragment_name.node, level + 1)?;
                    inner.nesting += 1;
                    inner
                }
            };
            total.selections = total
                .selections
                .saturating_add(1)
                .saturating_add(inner.selections);
            total.nodes = total
                .nodes
                .saturating_add(1)
                .saturating_add(own)
                .saturating_add(inner.nodes);
            total.depth = total.depth.max(inner.depth);
            total.nesting = total.nesting.max(inner.nesting);
        }
        Ok(total)
    }

    /// The measure of the fragment `name`, spread at nesting `level`: computed the first time,
    /// reused afterwards. An unknown fragment measures nothing (validation refuses it, and
    /// nothing expands it).
    fn fragment(&mut self, name: &'a str, level: usize) -> Result<Measure, Unmeasurable> {
        match self.fragments.get(name) {
            Some(State::Done(measure)) => {
                if level + measure.nesting > MAX_NESTING {
                    return Err(Unmeasurable::TooNested);
                }
                return Ok(*measure);
            }
            Some(State::InProgress) => return Err(Unmeasurable::Cycle(name.to_string())),
            None => {}
        }
        let document = self.document;
        let Some((key, definition)) = document.fragments.get_key_value(name) else {
            return Ok(Measure::default());
        };
        self.fragments.insert(key.as_str(), State::InProgress);
        let mut measure = self.selection_set(&definition.node.selection_set.node, level)?;
        // Its definition's directives, walked wherever it is spread.
        measure.nodes = measure
            .nodes
            .saturating_add(directives(&definition.node.directives));
        self.fragments.insert(key.as_str(), State::Done(measure));
        Ok(measure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure(query: &str) -> Result<Measure, Unmeasurable> {
        let document = async_graphql::parser::parse_query(query).unwrap();
        let mut measurer = Measurer::new(&document);
        let (_, operation) = document.operations.iter().next().unwrap();
        measurer.selection_set(&operation.node.selection_set.node, 0)
    }

    /// `query { ...F<n> }` where each fragment spreads the one below twice.
    fn fan_out(n: usize) -> String {
        let mut query = format!("query {{ ...F{n} }} fragment F0 on Query {{ a {{ b }} }}");
        for i in 1..=n {
            query.push_str(&format!(
                " fragment F{i} on Query {{ ...F{} ...F{} }}",
                i - 1,
                i - 1
            ));
        }
        query
    }

    #[test]
    fn counts_every_field_where_it_is_reached() {
        let measured =
            measure("{ a { b c } d ... on Query { e } ...F } fragment F on Query { f { g } }")
                .unwrap();
        // a b c d, the inline fragment and e, the spread and f g.
        assert_eq!(measured.selections, 9);
        assert_eq!(measured.depth, 2);
        assert_eq!(measured.nesting, 2);
    }

    #[test]
    fn counts_directives_arguments_and_values_where_they_are_reached() {
        // a(x: [1, 2], y: {z: 3}) is 1 + (1 + 3) + (1 + 2) = 8 nodes; @skip(if: $v) 3; the
        // spread 1, reached twice with its fragment's directive (1).
        let measured = measure(
            "query($v: Boolean!) { ...F ...F } fragment F on Query @f { a(x: [1, 2], y: {z: 3}) @skip(if: $v) }",
        )
        .unwrap();
        assert_eq!(measured.selections, 4);
        assert_eq!(measured.nodes, 2 * (1 + 1 + 8 + 3));
    }

    #[test]
    fn counts_a_fan_out_without_expanding_it() {
        // F0 is 2 selections; Fi is 2 spreads of F(i-1): s(i) = 2 + 2 s(i-1).
        let measured = measure(&fan_out(27)).unwrap();
        assert_eq!(measured.selections, (1u64 << 29) - 2 + 1);
        assert_eq!(measured.depth, 2);
        let measured = measure(&fan_out(30)).unwrap();
        assert!(measured.selections > 1 << 31);
    }

    #[test]
    fn saturates_rather_than_overflows() {
        // 31 levels of fan-out, each doubling, and 31 more through inline fragments in the
        // same fragments (the nesting stays within bounds: spreads are counted, not walked).
        let mut query = String::from("query { ...F31 } fragment F0 on Query { a }");
        for i in 1..=31 {
            let below = i - 1;
            query.push_str(&format!(
                " fragment F{i} on Query {{ {} }}",
                format!("...F{below} ").repeat(64)
            ));
        }
        assert_eq!(measure(&query).unwrap().selections, u64::MAX);
    }

    #[test]
    fn refuses_cycles_instead_of_looping() {
        assert_eq!(
            measure("{ ...A } fragment A on Query { a ...B } fragment B on Query { ...A }"),
            Err(Unmeasurable::Cycle("A".into()))
        );
        assert_eq!(
            measure("{ ...A } fragment A on Query { ...A }"),
            Err(Unmeasurable::Cycle("A".into()))
        );
    }

    #[test]
    fn refuses_chains_nested_beyond_the_recursion_bound() {
        let chain = |n: usize| {
            let mut query = format!("{{ ...F{n} }} fragment F0 on Query {{ a }}");
            for i in 1..=n {
                query.push_str(&format!(" fragment F{i} on Query {{ ...F{} }}", i - 1));
            }
            query
        };
        // The operation's spread of F31 is level 1, F0's is level 32.
        assert_eq!(measure(&chain(31)).unwrap().nesting, 32);
        assert_eq!(measure(&chain(32)), Err(Unmeasurable::TooNested));
        assert_eq!(measure(&chain(5000)), Err(Unmeasurable::TooNested));
        // A fragment measured shallow and spread again deeper is refused there too.
        let reused = "{ ...F30 a { b { ...F30 } } } fragment F0 on Query { a }";
        let mut query = reused.to_string();
        for i in 1..=30 {
            query.push_str(&format!(" fragment F{i} on Query {{ ...F{} }}", i - 1));
        }
        assert_eq!(measure(&query), Err(Unmeasurable::TooNested));
    }

    #[test]
    fn measures_depth_as_async_graphql_does() {
        let measured = measure("{ a { __typename b { c } } }").unwrap();
        assert_eq!(measured.depth, 3);
        let measured = measure("{ a { ...F } } fragment F on A { b { c { d } } }").unwrap();
        assert_eq!(measured.depth, 4);
    }
}
