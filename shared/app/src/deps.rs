use std::sync::Arc;

use store::{Queue, Table};

use crate::{Config, ConfigError, Secret};

/// Everything a handler needs, built once per cold start and shared by reference.
#[derive(Clone, Debug)]
pub struct Deps {
    pub config: Arc<Config>,
    pub table: Table,
    pub queue: Queue,
}

impl Deps {
    /// Loads configuration (with the secrets this function `needs`) and the AWS clients.
    pub async fn from_env(needs: &[Secret]) -> Result<Self, ConfigError> {
        let config = Config::from_env(needs)?;
        let aws = store::aws_config().await;
        let ssm = aws_sdk_ssm::Client::new(&aws);
        let config = config.resolve_secrets(Some(&ssm)).await?;
        Ok(Self::with_config(config, &aws))
    }

    /// Builds the clients for an already parsed configuration (tests and the local runner).
    pub fn with_config(config: Config, aws: &aws_config::SdkConfig) -> Self {
        let table = Table::new(aws_sdk_dynamodb::Client::new(aws), &config.table_name);
        let queue = Queue::new(
            aws_sdk_sqs::Client::new(aws),
            &config.sync_queue_url,
            &config.sync_dlq_url,
        );
        Self {
            config: Arc::new(config),
            table,
            queue,
        }
    }
}
