//! JSON request bodies, read so that a value of the wrong type is named by its path
//! (`sales[0].revenue_account`) rather than refused as a whole.

use serde::de::DeserializeOwned;

/// Why a body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Not JSON at all (or cut short).
    Syntax,
    /// JSON, but the value at `field` is not what the route takes.
    Field { field: String, message: String },
}

pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, BodyError> {
    let mut json = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut json).map_err(|e| {
        if !e.inner().is_data() {
            return BodyError::Syntax;
        }
        let path = e.path().to_string();
        BodyError::Field {
            // The whole body has the path ".".
            field: if path == "." { String::new() } else { path },
            message: expected(&e.inner().to_string()),
        }
    })
}

/// "must be a string" from serde_json's "invalid type: integer `3`, expected a string at line
/// 1 column 9", without echoing the value or naming our Rust types.
fn expected(serde_message: &str) -> String {
    let wanted = serde_message
        .split_once("expected ")
        .map(|(_, rest)| rest.split(" at line").next().unwrap_or(rest))
        .unwrap_or("");
    let wanted = if wanted.contains("struct") || wanted.contains("map") {
        "an object"
    } else if wanted.contains("sequence") {
        "an array"
    } else if wanted.starts_with("a ") || wanted.starts_with("an ") {
        wanted
    } else {
        "of another type"
    };
    format!("must be {wanted}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        #[serde(default)]
        items: Vec<Inner>,
        name: Option<String>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        account: Option<String>,
    }

    #[test]
    fn a_value_of_the_wrong_type_is_named_by_its_path() {
        let cases = [
            (
                r#"{"items": [{"account": "3001"}, {"account": 3001}]}"#,
                "items[1].account",
                "must be a string",
            ),
            (r#"{"items": {}}"#, "items", "must be an array"),
            (r#"{"items": [7]}"#, "items[0]", "must be an object"),
            (r#"{"name": true}"#, "name", "must be a string"),
            (r#""x""#, "", "must be an object"),
        ];
        for (body, field, message) in cases {
            assert_eq!(
                parse::<Outer>(body.as_bytes()).unwrap_err(),
                BodyError::Field {
                    field: field.into(),
                    message: message.into()
                },
                "{body}"
            );
        }
    }

    #[test]
    fn what_is_not_json_is_a_syntax_error() {
        for body in ["", "{", "{\"name\": }", "nope"] {
            assert_eq!(
                parse::<Outer>(body.as_bytes()).unwrap_err(),
                BodyError::Syntax,
                "{body}"
            );
        }
        assert!(parse::<Outer>(br#"{"name": "x", "other": 1}"#).is_ok());
    }
}
