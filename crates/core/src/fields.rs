//! Custom fields: typed values an admin defines for tickets (order number, product, due date…).

use crate::Invalid;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    Number,
    Checkbox,
    Date,
    Dropdown,
}

impl FieldType {
    pub const ALL: [FieldType; 5] = [
        Self::Text,
        Self::Number,
        Self::Checkbox,
        Self::Date,
        Self::Dropdown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Number => "number",
            Self::Checkbox => "checkbox",
            Self::Date => "date",
            Self::Dropdown => "dropdown",
        }
    }

    pub fn parse(text: &str) -> Result<Self, Invalid> {
        crate::parse_name("field_type", "a field type", Self::ALL, Self::as_str, text)
    }
}

/// A custom field as an admin defined it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    /// Stable machine name used in the API (`order_number`).
    pub key: String,
    pub label: String,
    pub field_type: FieldType,
    /// The allowed values of a dropdown; empty for other types.
    #[serde(default)]
    pub options: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("custom_fields.{0}: no such custom field")]
    Unknown(String),
    #[error("{0}")]
    Invalid(#[from] Invalid),
}

pub const MAX_TEXT_CHARS: usize = 10_000;

impl FieldDef {
    /// Checks a field key: lower-case letters, digits and `_`, starting with a letter.
    pub fn validate_key(key: &str) -> Result<(), Invalid> {
        let ok = key.len() <= 64
            && key.starts_with(|c: char| c.is_ascii_lowercase())
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if ok {
            Ok(())
        } else {
            Err(Invalid::new(
                "key",
                format!("'{key}' must start with a-z and use only a-z, 0-9 and _ (at most 64)"),
            ))
        }
    }

    /// Checks a value for this field and returns its canonical form. `null` clears the field.
    pub fn check(&self, value: &Value) -> Result<Value, Invalid> {
        let field = format!("custom_fields.{}", self.key);
        let wrong = |expected: &str| {
            Err(Invalid::new(
                &field,
                format!("expected {expected}, got {}", describe(value)),
            ))
        };
        match (self.field_type, value) {
            (_, Value::Null) => Ok(Value::Null),
            (FieldType::Text, Value::String(s)) => {
                if s.chars().count() > MAX_TEXT_CHARS {
                    Err(Invalid::new(
                        &field,
                        format!("must be at most {MAX_TEXT_CHARS} characters"),
                    ))
                } else {
                    Ok(Value::String(s.clone()))
                }
            }
            (FieldType::Text, _) => wrong("a string"),
            (FieldType::Number, Value::Number(n)) if n.as_f64().is_some_and(f64::is_finite) => {
                Ok(Value::Number(n.clone()))
            }
            (FieldType::Number, _) => wrong("a number"),
            (FieldType::Checkbox, Value::Bool(b)) => Ok(Value::Bool(*b)),
            (FieldType::Checkbox, _) => wrong("true or false"),
            (FieldType::Date, Value::String(s)) => match s.parse::<jiff::civil::Date>() {
                Ok(d) => Ok(Value::String(d.to_string())),
                Err(_) => Err(Invalid::new(
                    &field,
                    format!("'{s}' is not a date (YYYY-MM-DD)"),
                )),
            },
            (FieldType::Date, _) => wrong("a date string (YYYY-MM-DD)"),
            (FieldType::Dropdown, Value::String(s)) if self.options.contains(s) => {
                Ok(Value::String(s.clone()))
            }
            (FieldType::Dropdown, _) => wrong(&format!("one of {}", self.options.join(", "))),
        }
    }
}

/// Checks every value of `input` against `defs`; unknown keys are refused, not silently dropped.
pub fn check_values(
    defs: &[FieldDef],
    input: &serde_json::Map<String, Value>,
) -> Result<Vec<(String, Value)>, FieldError> {
    input
        .iter()
        .map(|(key, value)| {
            let def = defs
                .iter()
                .find(|d| &d.key == key)
                .ok_or_else(|| FieldError::Unknown(key.clone()))?;
            Ok((key.clone(), def.check(value)?))
        })
        .collect()
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) if s.chars().count() > 40 => "a long string".into(),
        Value::String(s) => format!("string '{s}'"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def(key: &str, field_type: FieldType, options: &[&str]) -> FieldDef {
        FieldDef {
            key: key.into(),
            label: key.into(),
            field_type,
            options: options.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn values_are_checked_by_type() {
        let defs = [
            def("order", FieldType::Text, &[]),
            def("amount", FieldType::Number, &[]),
            def("urgent", FieldType::Checkbox, &[]),
            def("due", FieldType::Date, &[]),
            def("product", FieldType::Dropdown, &["router", "modem"]),
        ];
        let ok = json!({"order": "A-1", "amount": 12.5, "urgent": true, "due": "2026-12-01", "product": "modem"});
        let checked = check_values(&defs, ok.as_object().unwrap()).unwrap();
        assert_eq!(checked.len(), 5);

        for (bad, expect) in [
            (
                json!({"amount": "12"}),
                "custom_fields.amount: expected a number, got string '12'",
            ),
            (
                json!({"urgent": 1}),
                "custom_fields.urgent: expected true or false, got number 1",
            ),
            (
                json!({"due": "01/12/2026"}),
                "custom_fields.due: '01/12/2026' is not a date",
            ),
            (
                json!({"product": "phone"}),
                "custom_fields.product: expected one of router, modem",
            ),
            (
                json!({"colour": "red"}),
                "custom_fields.colour: no such custom field",
            ),
        ] {
            let err = check_values(&defs, bad.as_object().unwrap()).unwrap_err();
            assert!(err.to_string().starts_with(expect), "{err}");
        }
    }

    #[test]
    fn null_clears_any_field() {
        assert_eq!(
            def("x", FieldType::Number, &[]).check(&Value::Null),
            Ok(Value::Null)
        );
    }

    #[test]
    fn keys_are_machine_names() {
        assert!(FieldDef::validate_key("order_number").is_ok());
        assert!(FieldDef::validate_key("Order").is_err());
        assert!(FieldDef::validate_key("1st").is_err());
    }
}
