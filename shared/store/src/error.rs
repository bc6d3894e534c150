use std::error::Error as StdError;

/// Every failure of the store, classified for the caller: retry it, or give up.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write was refused: the item exists, or is not in the expected state.
    /// Callers treat this as an answer ("someone else got there first"), not a fault.
    #[error("the conditional write was refused")]
    ConditionFailed,
    /// Throttling, timeouts, 5xx, connection errors: safe to retry.
    #[error("{operation} failed transiently")]
    Transient {
        operation: &'static str,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// Anything retrying will not fix: a missing table, a validation error, bad credentials.
    #[error("{operation} failed")]
    Permanent {
        operation: &'static str,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// A stored item or message did not have the shape this code expects.
    #[error("stored data could not be decoded: {0}")]
    Decode(String),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Transient { .. })
    }

    /// Classifies an SDK error: service faults and I/O are transient, the rest permanent.
    pub(crate) fn from_sdk<E, R>(
        operation: &'static str,
        err: aws_sdk_dynamodb::error::SdkError<E, R>,
    ) -> Self
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + StdError + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        use aws_sdk_dynamodb::error::SdkError;
        if let SdkError::ServiceError(service) = &err {
            let code = service.err().code();
            let message = service.err().message().unwrap_or_default();
            // Also a refused transaction whose cancellation reasons are all condition checks.
            if code == Some("ConditionalCheckFailedException")
                || (code == Some("TransactionCanceledException")
                    && message.contains("ConditionalCheckFailed")
                    && !message.contains("TransactionConflict"))
            {
                return StoreError::ConditionFailed;
            }
        }
        let transient = match &err {
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
            SdkError::ResponseError(_) => true,
            // DynamoDB's, then SQS's and KMS's (the vault's) throttling and service faults.
            SdkError::ServiceError(service) => matches!(
                service.err().code(),
                Some(
                    "ThrottlingException"
                        | "ProvisionedThroughputExceededException"
                        | "RequestLimitExceeded"
                        | "InternalServerError"
                        | "ServiceUnavailable"
                        | "TransactionInProgressException"
                        | "RequestThrottled"
                        | "InternalError"
                        | "InternalFailure"
                        | "ServiceUnavailableException"
                        | "KMSInternalException"
                        | "DependencyTimeoutException"
                        | "KeyUnavailableException"
                        | "LimitExceededException"
                )
            ),
            _ => false,
        };
        let source: Box<dyn StdError + Send + Sync> = Box::new(SdkMessage(
            aws_sdk_dynamodb::error::DisplayErrorContext(&err).to_string(),
        ));
        if transient {
            StoreError::Transient { operation, source }
        } else {
            StoreError::Permanent { operation, source }
        }
    }
}

/// `.or_store("UpdateItem")` on an SDK call's result: its error classified as a [`StoreError`]
/// ([`StoreError::from_sdk`]).
pub(crate) trait SdkResultExt<T> {
    fn or_store(self, operation: &'static str) -> Result<T, StoreError>;
}

impl<T, E, R> SdkResultExt<T> for Result<T, aws_sdk_dynamodb::error::SdkError<E, R>>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    fn or_store(self, operation: &'static str) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::from_sdk(operation, e))
    }
}

/// A conditional write's answer, where a refused condition means "someone else got there
/// first" rather than a fault.
pub trait Conditional<T> {
    /// `Some` when the write was applied, `None` when its condition refused it.
    fn unless_refused(self) -> Result<Option<T>, StoreError>;

    /// Done either way: for writes whose refusal means the item is already past this state.
    fn or_refused(self) -> Result<(), StoreError>;
}

impl<T> Conditional<T> for Result<T, StoreError> {
    fn unless_refused(self) -> Result<Option<T>, StoreError> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(StoreError::ConditionFailed) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn or_refused(self) -> Result<(), StoreError> {
        self.unless_refused().map(|_| ())
    }
}

/// The SDK error's text, with its causes (`DisplayErrorContext` walks the chain). Item values
/// are never part of SDK error messages, so no token can leak through here.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct SdkMessage(pub(crate) String);

#[cfg(test)]
mod tests {
    use aws_sdk_kms::config::http::HttpResponse;
    use aws_sdk_kms::error::{ErrorMetadata, SdkError};
    use aws_sdk_kms::operation::decrypt::DecryptError;

    use super::StoreError;

    fn kms_answer(code: &str, status: u16) -> SdkError<DecryptError, HttpResponse> {
        SdkError::service_error(
            DecryptError::generic(ErrorMetadata::builder().code(code).build()),
            HttpResponse::new(
                status.try_into().unwrap(),
                aws_smithy_types::body::SdkBody::empty(),
            ),
        )
    }

    /// A fault on AWS's side is retried; a refusal (a disabled key, tokens that do not decrypt)
    /// is not: it needs an operator.
    #[test]
    fn kms_faults_are_transient_and_its_refusals_permanent() {
        for code in [
            "KMSInternalException",
            "DependencyTimeoutException",
            "KeyUnavailableException",
            "ThrottlingException",
        ] {
            let e = StoreError::from_sdk("Decrypt", kms_answer(code, 500));
            assert!(e.is_retryable(), "{code}");
        }
        for code in [
            "DisabledException",
            "InvalidCiphertextException",
            "AccessDeniedException",
        ] {
            let e = StoreError::from_sdk("Decrypt", kms_answer(code, 400));
            assert!(!e.is_retryable(), "{code}");
        }
    }
}
