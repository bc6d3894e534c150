//! Faults injected into the AWS clients of a [`TestApp`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::internals::{self, Queue};
use crate::TestApp;

/// Refuses the first AWS request whose body contains `needle` (an SQS or DynamoDB fault),
/// passes everything else.
#[derive(Debug, Clone)]
pub struct RefuseFirst {
    needle: &'static str,
    refused: Arc<AtomicUsize>,
}

impl RefuseFirst {
    pub fn of(needle: &'static str) -> Self {
        Self {
            needle,
            refused: Default::default(),
        }
    }

    /// How many requests it refused so far.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    /// `app` whose table client refuses that first request (the sync items' writes).
    pub async fn on_table(&self, app: &TestApp) -> TestApp {
        let ddb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&crate::aws().await)
                .interceptor(self.clone())
                .build(),
        );
        let mut faulty = app.clone();
        faulty.deps.items = internals::Store::new(ddb, &app.config.table_name, None).items;
        faulty
    }

    /// `app` whose queue client refuses that first send.
    pub async fn on_queue(&self, app: &TestApp) -> TestApp {
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&crate::aws().await)
                .interceptor(self.clone())
                .build(),
        );
        let mut faulty = app.clone();
        faulty.queue = Queue::new(sqs, app.queue.url(), app.queue.dead_letter_url());
        faulty
    }
}

impl aws_sdk_sqs::config::Intercept for RefuseFirst {
    fn name(&self) -> &'static str {
        "refuse-first"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_sqs::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &aws_sdk_sqs::config::RuntimeComponents,
        _cfg: &mut aws_sdk_sqs::config::ConfigBag,
    ) -> Result<(), aws_sdk_sqs::error::BoxError> {
        let body = context
            .request()
            .body()
            .bytes()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        if body.contains(self.needle) && self.refused.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err("injected: SQS refused the send".into());
        }
        Ok(())
    }
}

/// `app` whose queue URL names a queue that does not exist: every send fails.
pub fn with_missing_queue(app: &TestApp) -> TestApp {
    let mut broken = app.clone();
    broken.queue = Queue::new(
        app.queue.client().clone(),
        format!("{}-missing", app.queue.url()),
        app.queue.dead_letter_url(),
    );
    broken
}
