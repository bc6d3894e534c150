//! The second baseline of `make bench`'s cold-start figures: the empty function plus the
//! DynamoDB and SQS clients, built as every function builds them (`store::aws_config`). Its
//! gap to the empty function is what linking and starting the AWS SDK costs; a function's gap
//! to it is the service's own start-up (configuration, logging, the Visma client, routing).

use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let aws = store::aws_config().await;
    let clients = (
        aws_sdk_dynamodb::Client::new(&aws),
        aws_sdk_sqs::Client::new(&aws),
    );
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        // Held by the handler, as a function holds its clients for every invocation.
        let _clients = &clients;
        async move { Ok::<_, lambda_runtime::Error>(event.payload) }
    }))
    .await
}
