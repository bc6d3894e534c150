//! The crate's one error type, plus the classification callers use to decide what to do next
//! (retry later, tell the owner, reconnect, look up before re-creating, give up).

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// What a caller should do about an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Try again later: rate limit, Visma 5xx, timeouts, connection failures.
    Transient,
    /// The Visma company needs a human: validation, missing fiscal year or account, module or
    /// scope not enabled, locked period, article coding without an account.
    NeedsOwner,
    /// The connection must be re-authorized (401, `invalid_grant`, `invalid_client`).
    Authorization,
    /// The addressed object does not exist.
    NotFound,
    /// A unique value already exists (Visma 4000).
    Conflict,
    /// Our bug or an unexpected answer; retrying will not help.
    Permanent,
}

/// One entry of Visma's `Errors` array (field-level validation messages).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FieldError {
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
}

/// Visma's error body, as sent on non-2xx API answers.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub error_code: Option<i64>,
    #[serde(default)]
    pub developer_error_message: Option<String>,
    #[serde(default)]
    pub error_id: Option<String>,
    #[serde(default)]
    pub errors: Option<Vec<FieldError>>,
}

/// A non-2xx answer from the eAccounting API, decoded as far as the body allows.
#[derive(Clone, Debug)]
pub struct ApiError {
    /// HTTP method of the failed call.
    pub method: String,
    /// Path template (ids elided), e.g. `/v2/customers/{customerId}`.
    pub path: &'static str,
    pub status: u16,
    /// Visma's `ErrorCode` (e.g. 2000, 4010), when the body carried one.
    pub code: Option<i64>,
    /// Visma's `DeveloperErrorMessage`.
    pub message: Option<String>,
    /// Visma's `ErrorId`; quote it to Visma support.
    pub error_id: Option<String>,
    pub field_errors: Vec<FieldError>,
    /// Parsed `Retry-After` header, if any.
    pub retry_after_header: Option<Duration>,
    /// Start of a body that was not Visma's JSON error shape (e.g. a proxy's HTML page).
    pub raw_body: Option<String>,
}

impl ApiError {
    fn class(&self) -> ErrorClass {
        let code = self.code.unwrap_or(0);
        if self.status == 429 || code == 4010 || self.status >= 500 || (5000..=5002).contains(&code)
        {
            return ErrorClass::Transient;
        }
        if self.status == 401 || code == 4005 {
            return ErrorClass::Authorization;
        }
        match code {
            2000 | 3001 | 3002 | 4002 | 4003 | 4004 | 4006 | 4007 | 4009 | 4011 | 4012 | 4013
            | 4019 | 4024 | 4026 | 4038 => return ErrorClass::NeedsOwner,
            4000 => return ErrorClass::Conflict,
            3000 if self.method == "GET" => return ErrorClass::NotFound,
            _ => {}
        }
        match self.status {
            404 => ErrorClass::NotFound,
            409 => ErrorClass::Conflict,
            _ => ErrorClass::Permanent,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Visma API {} {} answered HTTP {}",
            self.method, self.path, self.status
        )?;
        if let Some(code) = self.code {
            write!(f, ", ErrorCode {code}")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        for e in &self.field_errors {
            write!(
                f,
                "; {}: {}",
                e.field.as_deref().unwrap_or("?"),
                e.message
                    .as_deref()
                    .or(e.error_code.as_deref())
                    .unwrap_or("invalid")
            )?;
        }
        if let Some(id) = &self.error_id {
            write!(f, " (ErrorId {id})")?;
        }
        if let Some(raw) = &self.raw_body {
            write!(f, " body: {raw}")?;
        }
        Ok(())
    }
}

/// An error from the identity server's token or revocation endpoint.
#[derive(Clone, Debug)]
pub struct TokenError {
    /// `code exchange`, `refresh` or `revocation`.
    pub operation: &'static str,
    pub status: Option<u16>,
    /// OAuth2 `error` value, e.g. `invalid_grant`.
    pub error: Option<String>,
    pub description: Option<String>,
    /// Network failure or timeout (no usable answer).
    pub transport: bool,
    /// The request may have been processed: for a refresh this means the old refresh token may
    /// already be spent.
    pub uncertain: bool,
    /// Extra detail for logs (never contains tokens or the client secret).
    pub detail: Option<String>,
}

impl TokenError {
    fn class(&self) -> ErrorClass {
        if let Some("invalid_grant" | "invalid_client" | "unauthorized_client") =
            self.error.as_deref()
        {
            return ErrorClass::Authorization;
        }
        if self.transport || self.status.is_some_and(|s| s >= 500 || s == 429) {
            return ErrorClass::Transient;
        }
        if self.status == Some(401) {
            return ErrorClass::Authorization;
        }
        ErrorClass::Permanent
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Visma token endpoint ({}) failed", self.operation)?;
        if let Some(status) = self.status {
            write!(f, " with HTTP {status}")?;
        }
        if let Some(error) = &self.error {
            write!(f, ": {error}")?;
        }
        if let Some(description) = &self.description {
            write!(f, " ({description})")?;
        }
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

/// The one error type of this crate. No variant ever holds a token or the client secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VismaError {
    /// Visma answered with an error status.
    #[error("{0}")]
    Api(Box<ApiError>),
    /// The identity server refused or failed a token request.
    #[error("{0}")]
    Token(Box<TokenError>),
    /// No HTTP answer: connect failure, timeout, connection dropped.
    #[error("Visma API {context}: {}{source}", if *uncertain { "no answer after sending (request may have been processed): " } else { "" })]
    Transport {
        /// Method and path template.
        context: String,
        /// True when the request may have reached Visma.
        uncertain: bool,
        #[source]
        source: reqwest::Error,
    },
    /// A 2xx body that does not match the model; `path` points at the bad field.
    #[error("Visma API {context}: cannot decode response at `{path}`: {message}")]
    Decode {
        context: String,
        path: String,
        message: String,
        /// True for a write whose success answer could not be read: the object exists.
        uncertain: bool,
    },
    /// A request body could not be encoded (a bug in the caller's data or ours).
    #[error("cannot encode request for {context}: {message}")]
    Encode { context: String, message: String },
    /// Bad configuration (unparsable URL and the like).
    #[error("invalid Visma configuration: {0}")]
    Config(String),
    /// Not sent: the caller's [`crate::Pacer`] has the rate limit booked further ahead than
    /// a request may wait. Try again after `wait`.
    #[error("Visma API {context}: not sent, the shared rate budget is booked {}s ahead", wait.as_secs())]
    Paced { context: String, wait: Duration },
    /// Failure reported by the caller's [`crate::TokenSource`] (e.g. its store is down).
    #[error("token source: {message}")]
    TokenSource { class: ErrorClass, message: String },
}

impl VismaError {
    /// For [`crate::TokenSource`] implementations: wrap a failure of their own (store down,
    /// connection revoked, ...) with the class the client should report.
    pub fn token_source(class: ErrorClass, message: impl fmt::Display) -> Self {
        VismaError::TokenSource {
            class,
            message: message.to_string(),
        }
    }

    /// What the caller should do about this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            VismaError::Api(e) => e.class(),
            VismaError::Token(e) => e.class(),
            VismaError::Transport { .. } | VismaError::Paced { .. } => ErrorClass::Transient,
            VismaError::Decode { .. } | VismaError::Encode { .. } | VismaError::Config(_) => {
                ErrorClass::Permanent
            }
            VismaError::TokenSource { class, .. } => *class,
        }
    }

    /// True when trying the same call again later may succeed.
    pub fn is_retryable(&self) -> bool {
        self.class() == ErrorClass::Transient
    }

    /// True when the request may have been processed by Visma although no usable answer came
    /// back. Before re-sending a create, look the record up.
    pub fn is_uncertain(&self) -> bool {
        match self {
            VismaError::Transport { uncertain, .. } | VismaError::Decode { uncertain, .. } => {
                *uncertain
            }
            // A gateway in front of Visma gave up waiting (502, 504): the create behind it may
            // still have gone through. A 500 or 503 is Visma's own answer, and PUT is a
            // replace that is safe to send again.
            VismaError::Api(e) => e.method == "POST" && matches!(e.status, 502 | 504),
            VismaError::Token(e) => e.uncertain,
            _ => false,
        }
    }

    /// How long Visma asked us to wait: the `Retry-After` header, else the "Try again in N
    /// seconds" hint of a 4010 message, else `None`.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            VismaError::Api(e) => e
                .retry_after_header
                .or_else(|| e.message.as_deref().and_then(parse_try_again)),
            VismaError::Paced { wait, .. } => Some(*wait),
            _ => None,
        }
    }

    /// HTTP status of an API or token-endpoint answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            VismaError::Api(e) => Some(e.status),
            VismaError::Token(e) => e.status,
            _ => None,
        }
    }

    /// Visma's `ErrorCode`, when the API sent one.
    pub fn visma_code(&self) -> Option<i64> {
        match self {
            VismaError::Api(e) => e.code,
            _ => None,
        }
    }

    /// The decoded API error, if this is one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            VismaError::Api(e) => Some(e),
            _ => None,
        }
    }
}

/// Finds "Try again in N seconds" (case-insensitive) in a Visma rate-limit message.
pub(crate) fn parse_try_again(message: &str) -> Option<Duration> {
    let lower = message.to_ascii_lowercase();
    let needle = "try again in ";
    let start = lower.find(needle)? + needle.len();
    let digits: String = lower[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    let secs: u64 = digits.parse().ok()?;
    let rest = lower[start + digits.len()..].trim_start();
    if rest.starts_with("sec") || rest.is_empty() || rest.starts_with('s') {
        Some(Duration::from_secs(secs))
    } else if rest.starts_with("min") {
        Some(Duration::from_secs(secs.saturating_mul(60)))
    } else {
        Some(Duration::from_secs(secs))
    }
}

/// Parses a `Retry-After` value: delta-seconds or an HTTP date.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_again_parsing() {
        let m =
            "API calls quota exceeded! maximum admitted 600 per Minute. Try again in 42 seconds.";
        assert_eq!(parse_try_again(m), Some(Duration::from_secs(42)));
        assert_eq!(
            parse_try_again("try again in 1 minute"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_try_again("Try again later"), None);
        assert_eq!(parse_try_again("nothing"), None);
    }

    #[test]
    fn retry_after_header_forms() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
