use std::fmt;

use serde::{Deserialize, Serialize};

/// One problem with one input field, as listed in a problem body's `errors` (integration guide "Errors").
/// `field` is a path in the contract's style, e.g. `data.invoice.lines[2].vat_rate`.
/// Messages describe the rule broken; they never echo secrets or internal error text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}
