//! The `JSON` scalar with its `@specifiedBy`: async-graphql's `Json` has none, and a client's
//! code generator reads the URL to know the type.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

/// A scalar that can represent any JSON value.
pub struct JsonValue(pub serde_json::Value);

/// A scalar that can represent any JSON value.
#[Scalar(
    name = "JSON",
    specified_by_url = "https://www.rfc-editor.org/rfc/rfc8259"
)]
impl ScalarType for JsonValue {
    fn parse(value: Value) -> InputValueResult<Self> {
        value
            .into_json()
            .map(JsonValue)
            .map_err(InputValueError::custom)
    }

    fn to_value(&self) -> Value {
        // Every serde_json value has a GraphQL one (numbers, strings, lists and objects).
        Value::from_json(self.0.clone()).unwrap_or(Value::Null)
    }
}
