//! `application/problem+json` answers (integration guide "Errors"): a stable `code` Aourly can switch on,
//! and the fields at fault. Never internal error text.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    pub status: u16,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, title: &str) -> Self {
        Self {
            kind: "about:blank",
            title: title.to_owned(),
            status: status.as_u16(),
            code: code.to_owned(),
            detail: None,
            errors: Vec::new(),
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn field(mut self, field: impl Into<String>, message: impl Into<String>) -> Self {
        self.errors.push(FieldProblem {
            field: field.into(),
            message: message.into(),
        });
        self
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "No such resource")
    }

    /// The router's fallback: no route has this path.
    pub fn unknown_route() -> Self {
        Self::new(StatusCode::NOT_FOUND, "unknown_route", "No such route")
    }

    pub fn not_implemented() -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "not_implemented",
            "This route is not implemented yet",
        )
    }

    /// For faults the caller cannot fix; the cause goes to the log, never into the body.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong on our side",
        )
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "A dependency is temporarily unavailable; try again shortly",
        )
    }
}

/// Gives the error answers axum makes itself (a method the path does not take, a path or body
/// its extractors refuse, an empty 404) the problem+json shape of integration guide "Errors", with a generic
/// title: their own text can echo the input. Answers the handlers made (problem+json already,
/// or the OAuth callback's `text/html` pages) pass through untouched. Applied to each router
/// with `axum::middleware::map_response`.
pub async fn problem_json_errors(response: Response) -> Response {
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !(status.is_client_error() || status.is_server_error())
        || content_type.starts_with("application/problem+json")
        || content_type.starts_with("text/html")
    {
        return response;
    }
    let problem = match status {
        StatusCode::NOT_FOUND => Problem::unknown_route(),
        StatusCode::METHOD_NOT_ALLOWED => Problem::new(
            status,
            "method_not_allowed",
            "This path does not take this method",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            Problem::new(status, "payload_too_large", "The body is too large")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Problem::new(
            status,
            "unsupported_media_type",
            "The body's content type is not accepted",
        ),
        s if s.is_client_error() => {
            Problem::new(s, "invalid_request", "The request could not be read")
        }
        StatusCode::SERVICE_UNAVAILABLE => Problem::unavailable(),
        s => Problem {
            status: s.as_u16(),
            ..Problem::internal()
        },
    };
    // `Allow` (on a 405) still says which methods the path takes.
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut answer = problem.into_response();
    if let Some(allow) = allow {
        answer.headers_mut().insert(header::ALLOW, allow);
    }
    answer
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_to_the_contract_shape() {
        let p = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "mapping_incomplete",
            "Mapping incomplete",
        )
        .detail("no entry for 12 %")
        .field("invoice.lines[2].vat_rate", "no mapping for this rate");
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "type": "about:blank", "title": "Mapping incomplete", "status": 422,
                "code": "mapping_incomplete", "detail": "no entry for 12 %",
                "errors": [{"field": "invoice.lines[2].vat_rate", "message": "no mapping for this rate"}]
            })
        );
        let response = p.into_response();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }
}
