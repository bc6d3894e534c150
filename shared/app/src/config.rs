//! All configuration, parsed once at start-up (integration guide "Configuration"). Nothing else reads the environment.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

/// A variable that is missing or malformed; its `Display` is the one line start-up prints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration: {variable} {problem}")]
pub struct ConfigError {
    pub variable: String,
    pub problem: String,
}

impl ConfigError {
    fn new(variable: &str, problem: impl Into<String>) -> Self {
        Self {
            variable: variable.to_owned(),
            problem: problem.into(),
        }
    }
}

/// The shared secrets. In AWS each comes from an SSM SecureString named by `X_PARAM`; locally
/// the plain variable `X` is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Secret {
    VismaClientSecret,
    JwtSecret,
    WebhookSecret,
    EventsSecret,
}

impl Secret {
    pub const ALL: [Secret; 4] = [
        Secret::VismaClientSecret,
        Secret::JwtSecret,
        Secret::WebhookSecret,
        Secret::EventsSecret,
    ];

    pub fn variable(self) -> &'static str {
        match self {
            Secret::VismaClientSecret => "VISMA_CLIENT_SECRET",
            Secret::JwtSecret => "AOURLY_JWT_SECRET",
            Secret::WebhookSecret => "AOURLY_WEBHOOK_SECRET",
            Secret::EventsSecret => "AOURLY_EVENTS_SECRET",
        }
    }
}

/// Where a secret's value comes from, before it is resolved.
#[derive(Debug, Clone)]
enum SecretSource {
    Value(SecretString),
    Parameter(String),
}

/// The secrets a function asked for at start-up, resolved.
#[derive(Clone, Default)]
pub struct Secrets(HashMap<Secret, SecretString>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(self.0.keys().map(|s| s.variable()))
            .finish()
    }
}

impl Secrets {
    /// The secret's value. Each function names the secrets it needs when it loads its
    /// configuration, so a missing one stops start-up instead of failing here.
    pub fn get(&self, secret: Secret) -> Option<&SecretString> {
        self.0.get(&secret)
    }
}

/// Settings only `make serve` uses (integration guide "Running locally").
#[derive(Debug, Clone)]
pub struct LocalConfig {
    pub http_addr: SocketAddr,
    pub schedule_every: Duration,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub sync_queue_url: String,
    pub sync_dlq_url: String,
    pub visma_identity_url: Url,
    pub visma_api_url: Url,
    pub visma_client_id: String,
    pub visma_redirect_uri: Url,
    pub visma_scopes: Vec<String>,
    pub return_url_prefixes: Vec<String>,
    pub events_url: Option<Url>,
    pub token_kms_key_id: Option<String>,
    /// Visma's rate limit per client and endpoint, shared by all tenants (`VISMA_RATE_LIMIT`,
    /// `requests/seconds`, default `600/60`); the pacer keeps every worker together under it.
    pub visma_rate_limit: crate::pacer::RateLimit,
    /// The sync queue's `maxReceiveCount` (`SYNC_MAX_RECEIVE_COUNT`, default 5; template.yaml
    /// passes its redrive policy's value): the receive on which a push job is its last.
    pub sync_max_receive_count: u32,
    pub local: LocalConfig,
    pub secrets: Secrets,
    unresolved: HashMap<Secret, SecretSource>,
}

pub const DEFAULT_IDENTITY_URL: &str = "https://identity.vismaonline.com";
pub const DEFAULT_API_URL: &str = "https://eaccountingapi.vismaonline.com";
/// The sync queue's `maxReceiveCount` when `SYNC_MAX_RECEIVE_COUNT` is not set (template.yaml's
/// default).
pub const DEFAULT_MAX_RECEIVE_COUNT: u32 = 5;
pub const DEFAULT_SCOPES: &str = "ea:api offline_access ea:sales ea:accounting";

impl Config {
    /// Parses the process environment. `needs` lists the secrets this function uses; each must
    /// be set as `X` or `X_PARAM`. Call [`Config::resolve_secrets`] next.
    pub fn from_env(needs: &[Secret]) -> Result<Self, ConfigError> {
        let vars: HashMap<String, String> = std::env::vars().collect();
        Self::from_lookup(needs, |name| vars.get(name).cloned())
    }

    /// Parses configuration from any lookup (tests pass a map).
    pub fn from_lookup(
        needs: &[Secret],
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |name: &str| get(name).ok_or_else(|| ConfigError::new(name, "is missing"));
        let url = |name: &str, value: String| {
            let parsed = Url::parse(&value)
                .map_err(|e| ConfigError::new(name, format!("is not a URL ({e})")))?;
            if matches!(parsed.scheme(), "http" | "https") {
                Ok(parsed)
            } else {
                Err(ConfigError::new(name, "must be an http(s) URL"))
            }
        };
        let url_or =
            |name: &str, default: &str| url(name, get(name).unwrap_or_else(|| default.to_owned()));

        let mut unresolved = HashMap::new();
        for &secret in needs {
            let name = secret.variable();
            let param = format!("{name}_PARAM");
            let source = match (get(name), get(&param)) {
                (Some(value), _) => SecretSource::Value(SecretString::from(value)),
                (None, Some(parameter)) => SecretSource::Parameter(parameter),
                (None, None) => {
                    // The events secret is needed only when events are sent.
                    if secret == Secret::EventsSecret && get("AOURLY_EVENTS_URL").is_none() {
                        continue;
                    }
                    return Err(ConfigError::new(
                        name,
                        format!("is missing (set {name} or {param})"),
                    ));
                }
            };
            unresolved.insert(secret, source);
        }

        let scopes: Vec<String> = get("VISMA_SCOPES")
            .unwrap_or_else(|| DEFAULT_SCOPES.to_owned())
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        // Prefixes are stored normalised (`https://app.aourly.se` becomes `https://app.aourly.se/`),
        // so `https://app.aourly.se.evil.example/` can never match by plain string prefix.
        let prefixes = required("AOURLY_RETURN_URL_PREFIXES")?
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| url("AOURLY_RETURN_URL_PREFIXES", p.to_owned()).map(String::from))
            .collect::<Result<Vec<String>, _>>()?;
        if prefixes.is_empty() {
            return Err(ConfigError::new("AOURLY_RETURN_URL_PREFIXES", "is empty"));
        }

        let http_addr = get("LOCAL_HTTP_ADDR")
            .unwrap_or_else(|| "127.0.0.1:3000".to_owned())
            .parse()
            .map_err(|_| {
                ConfigError::new(
                    "LOCAL_HTTP_ADDR",
                    "is not a socket address like 127.0.0.1:3000",
                )
            })?;
        let schedule_seconds: u64 = get("LOCAL_SCHEDULE_SECONDS")
            .unwrap_or_else(|| "60".to_owned())
            .parse()
            .ok()
            .filter(|s| *s > 0)
            .ok_or_else(|| {
                ConfigError::new(
                    "LOCAL_SCHEDULE_SECONDS",
                    "is not a positive whole number of seconds",
                )
            })?;

        Ok(Self {
            table_name: required("TABLE_NAME")?,
            sync_queue_url: url("SYNC_QUEUE_URL", required("SYNC_QUEUE_URL")?)?.to_string(),
            sync_dlq_url: url("SYNC_DLQ_URL", required("SYNC_DLQ_URL")?)?.to_string(),
            visma_identity_url: url_or("VISMA_IDENTITY_URL", DEFAULT_IDENTITY_URL)?,
            visma_api_url: url_or("VISMA_API_URL", DEFAULT_API_URL)?,
            visma_client_id: required("VISMA_CLIENT_ID")?,
            visma_redirect_uri: url("VISMA_REDIRECT_URI", required("VISMA_REDIRECT_URI")?)?,
            visma_scopes: scopes,
            return_url_prefixes: prefixes,
            events_url: get("AOURLY_EVENTS_URL")
                .map(|v| url("AOURLY_EVENTS_URL", v))
                .transpose()?,
            token_kms_key_id: get("TOKEN_KMS_KEY_ID"),
            visma_rate_limit: match get("VISMA_RATE_LIMIT") {
                None => crate::pacer::RateLimit::VISMA,
                Some(raw) => crate::pacer::RateLimit::parse(&raw).ok_or_else(|| {
                    ConfigError::new("VISMA_RATE_LIMIT", "is not requests/seconds like 600/60")
                })?,
            },
            sync_max_receive_count: get("SYNC_MAX_RECEIVE_COUNT")
                .unwrap_or_else(|| DEFAULT_MAX_RECEIVE_COUNT.to_string())
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    ConfigError::new("SYNC_MAX_RECEIVE_COUNT", "is not a positive whole number")
                })?,
            local: LocalConfig {
                http_addr,
                schedule_every: Duration::from_secs(schedule_seconds),
            },
            secrets: Secrets::default(),
            unresolved,
        })
    }

    /// Whether any secret is read from SSM Parameter Store (set as `X_PARAM`).
    pub fn reads_parameter_store(&self) -> bool {
        self.unresolved
            .values()
            .any(|source| matches!(source, SecretSource::Parameter(_)))
    }

    /// Reads the `X_PARAM` secrets from SSM Parameter Store in one call (once per cold start)
    /// and fills [`Config::secrets`].
    pub async fn resolve_secrets(
        mut self,
        ssm: Option<&aws_sdk_ssm::Client>,
    ) -> Result<Self, ConfigError> {
        let mut by_parameter: HashMap<String, Vec<Secret>> = HashMap::new();
        for (secret, source) in std::mem::take(&mut self.unresolved) {
            match source {
                SecretSource::Value(value) => {
                    self.secrets.0.insert(secret, value);
                }
                SecretSource::Parameter(name) => by_parameter.entry(name).or_default().push(secret),
            }
        }
        if by_parameter.is_empty() {
            return Ok(self);
        }
        let first = by_parameter
            .values()
            .flatten()
            .next()
            .map(|s| format!("{}_PARAM", s.variable()))
            .unwrap_or_default();
        let ssm = ssm.ok_or_else(|| {
            ConfigError::new(
                &first,
                "names an SSM parameter but no SSM client is available",
            )
        })?;
        let out = ssm
            .get_parameters()
            .set_names(Some(by_parameter.keys().cloned().collect()))
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| {
                ConfigError::new(
                    &first,
                    format!(
                        "could not be read from SSM ({})",
                        aws_sdk_ssm::error::DisplayErrorContext(e)
                    ),
                )
            })?;
        for parameter in out.parameters.unwrap_or_default() {
            let (Some(name), Some(value)) = (parameter.name, parameter.value) else {
                continue;
            };
            for secret in by_parameter.remove(&name).unwrap_or_default() {
                self.secrets
                    .0
                    .insert(secret, SecretString::from(value.clone()));
            }
        }
        if let Some((name, secrets)) = by_parameter.into_iter().next() {
            let variable = secrets
                .first()
                .map(|s| format!("{}_PARAM", s.variable()))
                .unwrap_or_default();
            return Err(ConfigError::new(
                &variable,
                format!("names SSM parameter {name}, which does not exist"),
            ));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn base() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("TABLE_NAME", "t"),
            ("SYNC_QUEUE_URL", "http://127.0.0.1:5000/123456789012/sync"),
            (
                "SYNC_DLQ_URL",
                "http://127.0.0.1:5000/123456789012/sync-dlq",
            ),
            ("VISMA_CLIENT_ID", "client"),
            ("VISMA_CLIENT_SECRET", "visma-secret-value"),
            (
                "VISMA_REDIRECT_URI",
                "http://127.0.0.1:3000/oauth/visma/callback",
            ),
            ("AOURLY_JWT_SECRET", "jwt-secret-value"),
            ("AOURLY_WEBHOOK_SECRET", "webhook-secret-value"),
            (
                "AOURLY_RETURN_URL_PREFIXES",
                "https://app.aourly.se, http://localhost:5173/",
            ),
        ])
    }

    fn parse(vars: &HashMap<&str, &str>) -> Result<Config, ConfigError> {
        Config::from_lookup(&Secret::ALL, |k| vars.get(k).map(|v| v.to_string()))
    }

    #[tokio::test]
    async fn parses_a_complete_environment_with_defaults() {
        let config = parse(&base()).unwrap().resolve_secrets(None).await.unwrap();
        assert_eq!(
            config.visma_identity_url.as_str(),
            "https://identity.vismaonline.com/"
        );
        assert_eq!(
            config.visma_api_url.as_str(),
            "https://eaccountingapi.vismaonline.com/"
        );
        assert_eq!(
            config.visma_scopes,
            ["ea:api", "offline_access", "ea:sales", "ea:accounting"]
        );
        assert_eq!(
            config.return_url_prefixes,
            ["https://app.aourly.se/", "http://localhost:5173/"]
        );
        assert_eq!(config.local.http_addr.to_string(), "127.0.0.1:3000");
        assert_eq!(config.local.schedule_every, Duration::from_secs(60));
        assert_eq!(
            config
                .secrets
                .get(Secret::VismaClientSecret)
                .unwrap()
                .expose_secret(),
            "visma-secret-value"
        );
        // Events are off, so their secret is not required.
        assert!(config.secrets.get(Secret::EventsSecret).is_none());
    }

    #[test]
    fn each_missing_variable_is_named() {
        for name in [
            "TABLE_NAME",
            "SYNC_QUEUE_URL",
            "SYNC_DLQ_URL",
            "VISMA_CLIENT_ID",
            "VISMA_CLIENT_SECRET",
            "VISMA_REDIRECT_URI",
            "AOURLY_JWT_SECRET",
            "AOURLY_WEBHOOK_SECRET",
            "AOURLY_RETURN_URL_PREFIXES",
        ] {
            let mut vars = base();
            vars.remove(name);
            let err = parse(&vars).unwrap_err();
            assert_eq!(err.variable, name);
            assert!(err
                .to_string()
                .starts_with(&format!("configuration: {name} is missing")));
        }
    }

    #[test]
    fn malformed_values_are_named() {
        for (name, value) in [
            ("SYNC_QUEUE_URL", "not a url"),
            ("VISMA_API_URL", "ftp://x"),
            ("LOCAL_HTTP_ADDR", "localhost"),
            ("LOCAL_SCHEDULE_SECONDS", "0"),
            ("AOURLY_EVENTS_URL", "::"),
        ] {
            let mut vars = base();
            vars.insert("AOURLY_EVENTS_SECRET", "events-secret-value");
            vars.insert(name, value);
            assert_eq!(parse(&vars).unwrap_err().variable, name, "{name}={value}");
        }
    }

    #[test]
    fn events_secret_is_required_once_events_are_on() {
        let mut vars = base();
        vars.insert("AOURLY_EVENTS_URL", "https://aourly.example/hooks/visma");
        assert_eq!(parse(&vars).unwrap_err().variable, "AOURLY_EVENTS_SECRET");
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let config = parse(&base()).unwrap();
        let text = format!("{config:?}");
        assert!(!text.contains("secret-value"), "{text}");
    }

    #[tokio::test]
    async fn a_parameter_name_without_ssm_is_a_clear_error() {
        let mut vars = base();
        vars.remove("AOURLY_JWT_SECRET");
        vars.insert("AOURLY_JWT_SECRET_PARAM", "/aourly/jwt");
        let err = parse(&vars)
            .unwrap()
            .resolve_secrets(None)
            .await
            .unwrap_err();
        assert_eq!(err.variable, "AOURLY_JWT_SECRET_PARAM");
    }
}
