//! Visma-style error bodies: `{"ErrorCode","DeveloperErrorMessage","ErrorId","Errors"}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

/// One entry of the `Errors` array (`CommonExtendedBadRequest`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct FieldError {
    pub field: String,
    pub error_code: String,
    pub message: String,
    pub key: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        let field = field.into();
        FieldError {
            key: format!("{field}.{code}"),
            field,
            error_code: code.to_string(),
            message: message.into(),
        }
    }
}

/// An API error as Visma returns it.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: u32,
    pub message: String,
    pub errors: Option<Vec<FieldError>>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            errors: None,
            retry_after: None,
        }
    }

    /// 400 + 2000 (DataModelValidationError) listing field errors.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let message = errors
            .first()
            .map(|e| format!("{}: {}", e.field, e.message))
            .unwrap_or_else(|| "The request is invalid.".to_string());
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: 2000,
            message,
            errors: Some(errors),
            retry_after: None,
        }
    }

    pub fn field(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, code, message)])
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            4005,
            "AuthorizationException - Authorization has been denied for this request.",
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            3000,
            format!("ResourceNotFound - {what} was not found."),
        )
    }

    /// 400 + 3000: an id referenced from a request body does not exist.
    pub fn referenced_missing(field: &str, what: &str) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            3000,
            format!("ResourceNotFound - {what} referenced by {field} was not found."),
        );
        e.errors = Some(vec![FieldError::new(
            field,
            "ResourceNotFound",
            format!("{what} not found"),
        )]);
        e
    }

    pub fn query(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            6000,
            format!("QueryParameterError - {}", message.into()),
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            5000,
            "InternalServerError - An unexpected error occurred. (injected by visma-sandbox)",
        )
    }

    pub fn body(&self) -> serde_json::Value {
        json!({
            "ErrorCode": self.code,
            "DeveloperErrorMessage": self.message,
            "ErrorId": Uuid::new_v4(),
            "Errors": self.errors,
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut resp = (self.status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
