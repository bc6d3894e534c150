use aws_sdk_sqs::types::MessageSystemAttributeName;
use aws_sdk_sqs::Client;
use domain::SyncJob;

use crate::error::SdkResultExt;
use crate::StoreError;

/// The sync queue and its dead-letter queue.
#[derive(Clone, Debug)]
pub struct Queue {
    client: Client,
    url: String,
    dead_letter_url: String,
}

/// A message as received from SQS, before the worker decodes its body.
#[derive(Clone, Debug)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    /// How many times SQS has handed this message out, this time included.
    pub receive_count: u32,
    pub sent_timestamp_ms: Option<String>,
}

impl Queue {
    pub fn new(client: Client, url: impl Into<String>, dead_letter_url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
            dead_letter_url: dead_letter_url.into(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn dead_letter_url(&self) -> &str {
        &self.dead_letter_url
    }

    /// Queues a job; `delay_seconds` (0..=900) holds it back, used for backoff.
    pub async fn send(&self, job: &SyncJob, delay_seconds: i32) -> Result<String, StoreError> {
        let body = serde_json::to_string(job).map_err(|e| StoreError::Decode(e.to_string()))?;
        self.send_raw(&self.url, body, delay_seconds).await
    }

    /// Queues many jobs with `SendMessageBatch`, ten per call (SQS's limit). Entries SQS
    /// refuses in a batch are retried once in the next call; if they fail again the error is
    /// returned (jobs already sent stay sent: a pull job is safe to run twice).
    pub async fn send_batch(&self, jobs: &[SyncJob]) -> Result<usize, StoreError> {
        use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
        let mut sent = 0;
        for chunk in jobs.chunks(10) {
            let mut pending: Vec<(String, String)> = Vec::with_capacity(chunk.len());
            for (i, job) in chunk.iter().enumerate() {
                let body =
                    serde_json::to_string(job).map_err(|e| StoreError::Decode(e.to_string()))?;
                pending.push((i.to_string(), body));
            }
            for attempt in 0..2 {
                let entries = pending
                    .iter()
                    .map(|(id, body)| {
                        SendMessageBatchRequestEntry::builder()
                            .id(id)
                            .message_body(body)
                            .build()
                            .map_err(|e| StoreError::Decode(e.to_string()))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let out = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .or_store("SendMessageBatch")?;
                sent += out.successful.len();
                let failed: Vec<String> = out.failed.iter().map(|f| f.id.clone()).collect();
                pending.retain(|(id, _)| failed.contains(id));
                if pending.is_empty() {
                    break;
                }
                if attempt == 1 {
                    return Err(StoreError::Transient {
                        operation: "SendMessageBatch",
                        source: Box::new(crate::error::SdkMessage(format!(
                            "{} of the batch's entries were refused twice",
                            pending.len()
                        ))),
                    });
                }
            }
        }
        Ok(sent)
    }

    /// Sends a raw body to the dead-letter queue: used only when a message cannot even be
    /// decoded and must be kept for a human, and by tests.
    pub async fn send_raw_to(&self, url: &str, body: String) -> Result<String, StoreError> {
        self.send_raw(url, body, 0).await
    }

    async fn send_raw(
        &self,
        url: &str,
        body: String,
        delay_seconds: i32,
    ) -> Result<String, StoreError> {
        let out = self
            .client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .delay_seconds(delay_seconds.clamp(0, 900))
            .send()
            .await
            .or_store("SendMessage")?;
        Ok(out.message_id.unwrap_or_default())
    }

    /// Long-polls the sync queue for up to `max` (1..=10) messages.
    pub async fn receive(
        &self,
        max: i32,
        wait_seconds: i32,
    ) -> Result<Vec<ReceivedMessage>, StoreError> {
        self.receive_from(&self.url, max, wait_seconds).await
    }

    /// Long-polls the dead-letter queue (operators and tests inspect it).
    pub async fn receive_dead_letters(
        &self,
        max: i32,
        wait_seconds: i32,
    ) -> Result<Vec<ReceivedMessage>, StoreError> {
        self.receive_from(&self.dead_letter_url, max, wait_seconds)
            .await
    }

    async fn receive_from(
        &self,
        url: &str,
        max: i32,
        wait_seconds: i32,
    ) -> Result<Vec<ReceivedMessage>, StoreError> {
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max.clamp(1, 10))
            .wait_time_seconds(wait_seconds.clamp(0, 20))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .or_store("ReceiveMessage")?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let attrs = m.attributes.unwrap_or_default();
                ReceivedMessage {
                    message_id: m.message_id.unwrap_or_default(),
                    receipt_handle: m.receipt_handle.unwrap_or_default(),
                    body: m.body.unwrap_or_default(),
                    receive_count: attrs
                        .get(&MessageSystemAttributeName::ApproximateReceiveCount)
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(1),
                    sent_timestamp_ms: attrs
                        .get(&MessageSystemAttributeName::SentTimestamp)
                        .cloned(),
                }
            })
            .collect())
    }

    pub async fn delete(&self, receipt_handle: &str) -> Result<(), StoreError> {
        self.delete_from(&self.url, receipt_handle).await
    }

    pub async fn delete_dead_letter(&self, receipt_handle: &str) -> Result<(), StoreError> {
        self.delete_from(&self.dead_letter_url, receipt_handle)
            .await
    }

    async fn delete_from(&self, url: &str, receipt_handle: &str) -> Result<(), StoreError> {
        self.client
            .delete_message()
            .queue_url(url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .or_store("DeleteMessage")?;
        Ok(())
    }

    /// Hides a received message for `seconds` more: how the worker backs off a transient
    /// failure without losing the message (SQS redelivers it afterwards).
    pub async fn change_visibility(
        &self,
        receipt_handle: &str,
        seconds: i32,
    ) -> Result<(), StoreError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds.clamp(0, 43_200))
            .send()
            .await
            .or_store("ChangeMessageVisibility")?;
        Ok(())
    }
}
