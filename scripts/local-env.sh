#!/usr/bin/env bash
# Sourced by `make serve` and `make run`: local defaults for every variable of integration guide "Configuration" that
# is not already set. Point VISMA_* at the project's Visma sandbox and AWS at the emulator.
: "${AWS_ENDPOINT_URL:?AWS_ENDPOINT_URL must point at the local AWS emulator (scripts/with-aws.sh sets it)}"
export AWS_REGION=${AWS_REGION:-eu-north-1}
export TABLE_NAME=${TABLE_NAME:-aourly-visma-local}
export SYNC_QUEUE_URL=${SYNC_QUEUE_URL:-$AWS_ENDPOINT_URL/123456789012/aourly-visma-sync}
export SYNC_DLQ_URL=${SYNC_DLQ_URL:-$AWS_ENDPOINT_URL/123456789012/aourly-visma-sync-dlq}
export VISMA_SANDBOX_ADDR=${VISMA_SANDBOX_ADDR:-127.0.0.1:4010}
export VISMA_IDENTITY_URL=${VISMA_IDENTITY_URL:-http://$VISMA_SANDBOX_ADDR}
export VISMA_API_URL=${VISMA_API_URL:-http://$VISMA_SANDBOX_ADDR}
export VISMA_CLIENT_ID=${VISMA_CLIENT_ID:-aourly-local}
export VISMA_CLIENT_SECRET=${VISMA_CLIENT_SECRET:-aourly-local-secret}
export LOCAL_HTTP_ADDR=${LOCAL_HTTP_ADDR:-127.0.0.1:3000}
export VISMA_REDIRECT_URI=${VISMA_REDIRECT_URI:-http://$LOCAL_HTTP_ADDR/oauth/visma/callback}
export AOURLY_JWT_SECRET=${AOURLY_JWT_SECRET:-local-jwt-secret}
export AOURLY_WEBHOOK_SECRET=${AOURLY_WEBHOOK_SECRET:-local-webhook-secret}
export AOURLY_EVENTS_SECRET=${AOURLY_EVENTS_SECRET:-local-events-secret}
export AOURLY_RETURN_URL_PREFIXES=${AOURLY_RETURN_URL_PREFIXES:-http://localhost:5173/,http://$LOCAL_HTTP_ADDR/}
export LOCAL_SCHEDULE_SECONDS=${LOCAL_SCHEDULE_SECONDS:-60}
