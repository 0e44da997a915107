//! What introspection costs: every field it returns, every list item counted, measured against
//! the schema itself.
//!
//! async-graphql costs an introspection field at 1 like any leaf, whatever it returns: the
//! playground's query costs 208 and answers about 100 KB, so twenty aliased copies cost 4,000
//! and answer 2 MB. A list of types, fields, arguments or enum values is a list like a
//! connection, and costs what it holds; since the schema is fixed, what each one holds is
//! known exactly. The cost here is the number of fields and list items the answer will have,
//! counted by walking the document against a model of the schema, and the walk stops as soon
//! as it passes the limit, so it never does more work than the limit allows.

use std::collections::HashMap;
use std::sync::LazyLock;

use async_graphql::parser::types::{
    BaseType, ExecutableDocument, Field, Selection, SelectionSet, Type, TypeKind,
    TypeSystemDefinition,
};
use async_graphql::{Name, Value};

/// What introspection answers about beyond the schema's own SDL: its own types, the built-in
/// scalars and the directives every schema has (async-graphql omits them from the SDL).
const BUILT_IN: &str = r#"
scalar String
scalar Int
scalar Float
scalar Boolean
scalar ID
directive @deprecated(reason: String) on FIELD_DEFINITION | ARGUMENT_DEFINITION | INPUT_FIELD_DEFINITION | ENUM_VALUE
directive @oneOf on INPUT_OBJECT
type __Schema { description: String types: [__Type!]! queryType: __Type! mutationType: __Type subscriptionType: __Type directives: [__Directive!]! }
type __Type { kind: __TypeKind! name: String description: String specifiedByURL: String isOneOf: Boolean fields(includeDeprecated: Boolean = false): [__Field!] interfaces: [__Type!] possibleTypes: [__Type!] enumValues(includeDeprecated: Boolean = false): [__EnumValue!] inputFields(includeDeprecated: Boolean = false): [__InputValue!] ofType: __Type }
type __Field { name: String! description: String args(includeDeprecated: Boolean = false): [__InputValue!]! type: __Type! isDeprecated: Boolean! deprecationReason: String }
type __InputValue { name: String! description: String type: __Type! defaultValue: String isDeprecated: Boolean! deprecationReason: String }
type __EnumValue { name: String! description: String isDeprecated: Boolean! deprecationReason: String }
type __Directive { name: String! description: String locations: [__DirectiveLocation!]! args(includeDeprecated: Boolean = false): [__InputValue!]! isRepeatable: Boolean! }
enum __TypeKind { SCALAR OBJECT INTERFACE UNION ENUM INPUT_OBJECT LIST NON_NULL }
enum __DirectiveLocation { QUERY MUTATION SUBSCRIPTION FIELD FRAGMENT_DEFINITION FRAGMENT_SPREAD INLINE_FRAGMENT VARIABLE_DEFINITION SCHEMA SCALAR OBJECT FIELD_DEFINITION ARGUMENT_DEFINITION INTERFACE UNION ENUM ENUM_VALUE INPUT_OBJECT INPUT_FIELD_DEFINITION }
"#;

/// The schema as introspection sees it.
#[derive(Debug, Default)]
pub struct Model {
    types: Vec<TypeModel>,
    by_name: HashMap<String, usize>,
    directives: Vec<Vec<Type>>,
}

#[derive(Debug, Default)]
struct TypeModel {
    name: String,
    /// Each field's argument types and type.
    fields: Vec<(Vec<Type>, Type)>,
    input_fields: Vec<Type>,
    interfaces: Vec<String>,
    possible_types: Vec<String>,
    enum_values: usize,
}

/// The model of brokergraph's schema, built once: the types are fixed when the program is.
pub static MODEL: LazyLock<Model> = LazyLock::new(|| {
    let sdl = format!("{}\n{BUILT_IN}", crate::graphql::served_schema().sdl());
    match async_graphql::parser::parse_schema(&sdl) {
        Ok(document) => Model::new(document.definitions),
        Err(error) => {
            // Introspection would then cost what async-graphql counts; say so loudly.
            tracing::error!(error = %error, "the schema's SDL does not parse: introspection is not costed");
            Model::default()
        }
    }
});

impl Model {
    fn new(definitions: Vec<TypeSystemDefinition>) -> Model {
        let mut model = Model::default();
        let mut implementors: Vec<(String, String)> = Vec::new();
        for definition in definitions {
            match definition {
                TypeSystemDefinition::Type(definition) => {
                    let definition = definition.node;
                    let name = definition.name.node.to_string();
                    let mut ty = TypeModel {
                        name: name.clone(),
                        ..TypeModel::default()
                    };
                    let fields = |fields: Vec<_>| {
                        fields
                            .into_iter()
                            .map(|field: async_graphql::Positioned<_>| {
                                let field: async_graphql::parser::types::FieldDefinition =
                                    field.node;
                                let args = field.arguments.into_iter().map(|a| a.node.ty.node);
                                (args.collect(), field.ty.node)
                            })
                            .collect()
                    };
                    match definition.kind {
                        TypeKind::Object(object) => {
                            for interface in &object.implements {
                                implementors.push((interface.node.to_string(), name.clone()));
                            }
                            ty.interfaces = object
                                .implements
                                .iter()
                                .map(|i| i.node.to_string())
                                .collect();
                            ty.fields = fields(object.fields);
                        }
                        TypeKind::Interface(interface) => {
                            ty.interfaces = interface
                                .implements
                                .iter()
                                .map(|i| i.node.to_string())
                                .collect();
                            ty.fields = fields(interface.fields);
                        }
                        TypeKind::Union(union) => {
                            ty.possible_types =
                                union.members.iter().map(|m| m.node.to_string()).collect();
                        }
                        TypeKind::Enum(enumeration) => ty.enum_values = enumeration.values.len(),
                        TypeKind::InputObject(input) => {
                            ty.input_fields =
                                input.fields.into_iter().map(|f| f.node.ty.node).collect();
                        }
                        TypeKind::Scalar => {}
                    }
                    model.by_name.insert(name, model.types.len());
                    model.types.push(ty);
                }
                TypeSystemDefinition::Directive(directive) => {
                    let args = directive.node.arguments.into_iter().map(|a| a.node.ty.node);
                    model.directives.push(args.collect());
                }
                TypeSystemDefinition::Schema(_) => {}
            }
        }
        for (interface, implementor) in implementors {
            if let Some(&index) = model.by_name.get(&interface) {
                model.types[index].possible_types.push(implementor);
            }
        }
        model
    }

    fn named(&self, name: &str) -> Option<&TypeModel> {
        self.by_name.get(name).map(|&index| &self.types[index])
    }
}

/// The introspection answer would pass the limit.
#[derive(Debug, PartialEq, Eq)]
pub struct Exceeded;

/// Where in the introspection graph a selection set applies.
#[derive(Clone)]
enum Node<'m> {
    /// The operation's root: only `__schema` and `__type` are costed here (async-graphql costs
    /// the rest).
    Root,
    Schema,
    Type(Type),
    Field(&'m (Vec<Type>, Type)),
    InputValue(&'m Type),
    Directive(&'m [Type]),
    /// Enum values and everything else whose fields are leaves.
    Leaf,
}

fn named(name: &str) -> Type {
    Type {
        base: BaseType::Named(Name::new(name)),
        nullable: true,
    }
}

/// Counts the fields and list items an operation's introspection answers, up to `budget`.
pub struct Cost<'a> {
    model: &'a Model,
    document: &'a ExecutableDocument,
    budget: usize,
    spent: usize,
}

impl<'a> Cost<'a> {
    pub fn new(model: &'a Model, document: &'a ExecutableDocument, budget: usize) -> Self {
        Cost {
            model,
            document,
            budget,
            spent: 0,
        }
    }

    #[cfg(test)]
    pub fn spent(&self) -> usize {
        self.spent
    }

    /// Adds the introspection cost of an operation's root selection set.
    pub fn operation(&mut self, set: &'a SelectionSet) -> Result<(), Exceeded> {
        self.set(set, &Node::Root)
    }

    fn charge(&mut self, cost: usize) -> Result<(), Exceeded> {
        self.spent = self.spent.saturating_add(cost);
        if self.spent > self.budget {
            Err(Exceeded)
        } else {
            Ok(())
        }
    }

    fn set(&mut self, set: &'a SelectionSet, node: &Node<'a>) -> Result<(), Exceeded> {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => self.field(&field.node, node)?,
                Selection::InlineFragment(fragment) => {
                    self.set(&fragment.node.selection_set.node, node)?
                }
                Selection::FragmentSpread(spread) => {
                    // Fragment cycles were refused before this runs.
                    if let Some(fragment) =
                        self.document.fragments.get(&spread.node.fragment_name.node)
                    {
                        self.set(&fragment.node.selection_set.node, node)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Each item of a list: the item, then what is selected on it.
    fn each(
        &mut self,
        sub: &'a SelectionSet,
        items: impl IntoIterator<Item = Node<'a>>,
    ) -> Result<(), Exceeded> {
        for item in items {
            self.charge(1)?;
            self.set(sub, &item)?;
        }
        Ok(())
    }

    fn field(&mut self, field: &'a Field, node: &Node<'a>) -> Result<(), Exceeded> {
        let model = self.model;
        let name = field.name.node.as_str();
        let sub = &field.selection_set.node;
        if !matches!(node, Node::Root) {
            self.charge(1)?;
        }
        match node {
            Node::Root => match name {
                "__schema" => {
                    self.charge(1)?;
                    self.set(sub, &Node::Schema)?;
                }
                "__type" => {
                    self.charge(1)?;
                    let asked = field.get_argument("name").and_then(|value| {
                        match value.node.clone().into_const() {
                            Some(Value::String(name)) => model.named(&name),
                            _ => None,
                        }
                    });
                    match asked {
                        Some(ty) => self.set(sub, &Node::Type(named(&ty.name)))?,
                        // A name in a variable: cost it as every type, an upper bound.
                        None => {
                            self.each(sub, model.types.iter().map(|t| Node::Type(named(&t.name))))?
                        }
                    }
                }
                _ => {}
            },
            Node::Schema => match name {
                "types" => {
                    self.each(sub, model.types.iter().map(|t| Node::Type(named(&t.name))))?
                }
                "queryType" => self.set(sub, &Node::Type(named("Query")))?,
                "mutationType" => self.set(sub, &Node::Type(named("Mutation")))?,
                "directives" => {
                    self.each(sub, model.directives.iter().map(|d| Node::Directive(d)))?
                }
                _ => {}
            },
            Node::Type(ty) => {
                if !ty.nullable {
                    if name == "ofType" {
                        let inner = Type {
                            base: ty.base.clone(),
                            nullable: true,
                        };
                        self.set(sub, &Node::Type(inner))?;
                    }
                    return Ok(());
                }
                match &ty.base {
                    BaseType::List(inner) => {
                        if name == "ofType" {
                            self.set(sub, &Node::Type((**inner).clone()))?;
                        }
                    }
                    BaseType::Named(type_name) => {
                        let Some(ty) = model.named(type_name) else {
                            return Ok(());
                        };
                        match name {
                            "fields" => self.each(sub, ty.fields.iter().map(Node::Field))?,
                            "inputFields" => {
                                self.each(sub, ty.input_fields.iter().map(Node::InputValue))?
                            }
                            "interfaces" => self.each(
                                sub,
                                ty.interfaces.iter().map(|name| Node::Type(named(name))),
                            )?,
                            "possibleTypes" => self.each(
                                sub,
                                ty.possible_types.iter().map(|name| Node::Type(named(name))),
                            )?,
                            "enumValues" => {
                                self.each(sub, (0..ty.enum_values).map(|_| Node::Leaf))?
                            }
                            _ => {}
                        }
                    }
                }
            }
            Node::Field((args, ty)) => match name {
                "args" => self.each(sub, args.iter().map(Node::InputValue))?,
                "type" => self.set(sub, &Node::Type(ty.clone()))?,
                _ => {}
            },
            Node::InputValue(ty) => {
                if name == "type" {
                    self.set(sub, &Node::Type((*ty).clone()))?;
                }
            }
            Node::Directive(args) => {
                if name == "args" {
                    self.each(sub, args.iter().map(Node::InputValue))?;
                }
            }
            Node::Leaf => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(query: &str, budget: usize) -> Result<usize, Exceeded> {
        let document = async_graphql::parser::parse_query(query).unwrap();
        let mut cost = Cost::new(&MODEL, &document, budget);
        for (_, operation) in document.operations.iter() {
            cost.operation(&operation.node.selection_set.node)?;
        }
        Ok(cost.spent())
    }

    #[test]
    fn the_model_knows_the_schema_and_introspection() {
        let broker = MODEL.named("Broker").unwrap();
        assert!(broker.fields.len() >= 5);
        assert_eq!(broker.interfaces, ["Node"]);
        assert!(
            MODEL
                .named("Node")
                .unwrap()
                .possible_types
                .contains(&"Broker".to_string())
        );
        assert_eq!(MODEL.named("__TypeKind").unwrap().enum_values, 8);
        assert!(MODEL.directives.len() >= 5);
    }

    #[test]
    fn counts_what_the_answer_holds() {
        let types = MODEL.types.len();
        // __schema, types, and per type the item and its name.
        assert_eq!(
            cost("{ __schema { types { name } } }", usize::MAX),
            Ok(2 + 2 * types)
        );
        let broker = MODEL.named("Broker").unwrap().fields.len();
        assert_eq!(
            cost(
                r#"{ __type(name: "Broker") { fields { name } } }"#,
                usize::MAX
            ),
            Ok(2 + 2 * broker)
        );
        // `id: ID!`: NON_NULL, then its ofType ID, then nothing.
        assert_eq!(
            cost(
                r#"{ __type(name: "Node") { fields { type { kind ofType { name ofType { name } } } } } }"#,
                usize::MAX
            ),
            Ok(8)
        );
        // Other root fields are async-graphql's to cost.
        assert_eq!(cost("{ brokers { totalCount } }", usize::MAX), Ok(0));
    }

    #[test]
    fn stops_at_the_budget() {
        assert_eq!(cost("{ __schema { types { name } } }", 10), Err(Exceeded));
    }
}
