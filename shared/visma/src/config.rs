//! Connection settings for the identity server and the API. Values come from the caller
//! (the service's `app::config`); this crate never reads the environment.

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::error::VismaError;

/// Everything needed to talk to Visma's identity server and the eAccounting API.
///
/// `Debug` is derived: `SecretString` prints as `[REDACTED]`, so the client secret never leaks.
#[derive(Clone, Debug)]
pub struct VismaConfig {
    /// Identity server base, e.g. `https://identity.vismaonline.com`; `/connect/...` is appended.
    pub identity_url: Url,
    /// API base, e.g. `https://eaccountingapi.vismaonline.com`; `/v2/...` is appended.
    pub api_url: Url,
    pub client_id: String,
    pub client_secret: SecretString,
    /// Must match the redirect URI registered with Visma exactly.
    pub redirect_uri: Url,
    /// Requested scopes, e.g. `ea:api offline_access ea:sales ea:accounting`.
    pub scopes: Vec<String>,
    /// Whole-request timeout for both the identity server and the API.
    pub request_timeout: Duration,
}

impl VismaConfig {
    /// Scopes this integration needs: API access, a refresh token, sales and accounting.
    pub fn default_scopes() -> Vec<String> {
        ["ea:api", "offline_access", "ea:sales", "ea:accounting"]
            .into_iter()
            .map(String::from)
            .collect()
    }
}

/// Appends a relative path (no leading slash) to a base URL, whether or not the base ends with
/// a slash, keeping any path prefix of the base (useful behind a proxy or in a simulator).
pub(crate) fn join(base: &Url, relative: &str) -> Result<Url, VismaError> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    base.set_query(None);
    base.set_fragment(None);
    base.join(relative.trim_start_matches('/'))
        .map_err(|e| VismaError::Config(format!("cannot join `{relative}` to base URL: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_handles_trailing_slash_and_prefix() {
        for base in ["http://h:1", "http://h:1/"] {
            let url = join(&Url::parse(base).unwrap(), "v2/customers").unwrap();
            assert_eq!(url.as_str(), "http://h:1/v2/customers");
        }
        for base in ["http://h/visma", "http://h/visma/"] {
            let url = join(&Url::parse(base).unwrap(), "/connect/token").unwrap();
            assert_eq!(url.as_str(), "http://h/visma/connect/token");
        }
    }
}
