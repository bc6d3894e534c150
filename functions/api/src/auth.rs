//! Bearer JWT checks (integration guide "Authentication"): HS256 with `AOURLY_JWT_SECRET`, `iss` = `aourly`,
//! `aud` = `aourly-visma`, `exp` required; the `tenant` claim must match the path; writes need
//! `owner`, reads `owner` or `service`.

use app::{Deps, Problem, Secret};
use axum::http::request::Parts;
use axum::http::StatusCode;
use domain::TenantId;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// The checked caller of a tenant route.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: String,
    pub tenant: TenantId,
}

/// `tenant` and `role` are read as any JSON value: a signed token without them, or with a
/// value of another type, is valid but names no tenant or role that is allowed (403, not 401).
#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    tenant: serde_json::Value,
    #[serde(default)]
    role: serde_json::Value,
}

fn unauthorized(detail: &str) -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "Missing or invalid bearer token",
    )
    .detail(detail)
}

fn forbidden(detail: &str) -> Problem {
    Problem::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed").detail(detail)
}

/// Parses the tenant path segment (400 when malformed), then checks the bearer token for it.
pub fn authorize(
    deps: &Deps,
    parts: &Parts,
    raw_tenant: &str,
    access: Access,
) -> Result<Caller, Problem> {
    let tenant = TenantId::parse(raw_tenant).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            "Invalid tenant id",
        )
        .field("tenant", e.to_string())
    })?;
    let token = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("send Authorization: Bearer <jwt>"))?;
    let secret = deps
        .config
        .secrets
        .get(Secret::JwtSecret)
        .ok_or_else(Problem::internal)?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&["aourly"]);
    validation.set_audience(&["aourly-visma"]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = 0;
    let claims = jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.expose_secret().as_bytes()),
        &validation,
    )
    .map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        let why = match e.kind() {
            ErrorKind::ExpiredSignature => "the token has expired",
            ErrorKind::InvalidSignature => "the token's signature is not valid",
            ErrorKind::InvalidIssuer => "the token's issuer is not aourly",
            ErrorKind::InvalidAudience => "the token's audience is not aourly-visma",
            ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
            _ => "the token is malformed",
        };
        unauthorized(why)
    })?
    .claims;
    if claims.tenant.as_str() != Some(tenant.as_str()) {
        return Err(forbidden("the token is for another tenant"));
    }
    let allowed = matches!(
        (access, claims.role.as_str()),
        (_, Some("owner")) | (Access::Read, Some("service"))
    );
    if !allowed {
        return Err(forbidden(match access {
            Access::Write => "this action needs the owner role",
            Access::Read => "this needs the owner or service role",
        }));
    }
    Ok(Caller {
        user: claims.sub,
        tenant,
    })
}
