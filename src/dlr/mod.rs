//! Delivery reports: per-message tokens, the report URL a connector hands its
//! provider, the records the module and `smsotp-dlrd` share, and the provider
//! callback parsers the daemon uses (nothing here starts a thread; the daemon's
//! server lives in src/bin/smsotp-dlrd).

pub mod callback;
pub mod health;
pub mod record;
pub mod request;
pub mod signature;
pub mod store;

pub mod token;

use crate::config::{Config, DlrKey, delivery::path_segment};
pub use token::{MessageId, TokenError};

/// What a connector puts in its request so that the provider reports back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRequest {
    /// `callback_url/<connector>/<token>`: for providers that take a URL per message.
    pub url: String,
    /// `callback_url/<connector>`: the account-level webhook (Clickatell, BulkSMS),
    /// which finds the message by `token` echoed in the report.
    pub account_url: String,
    /// The per-message token (20 characters, see `token`).
    pub token: String,
    pub id: MessageId,
}

/// `[delivery]` when reports are on and the key is loaded.
#[derive(Debug, Clone)]
pub struct Reporting {
    callback_url: String,
    key: DlrKey,
    token_ttl: u64,
}

impl Reporting {
    /// None while `callback_url` is empty (or the key was not read).
    pub fn from_config(config: &Config) -> Option<Reporting> {
        let d = &config.delivery;
        let key = d.secret.clone().filter(|_| d.enabled())?;
        Some(Reporting { callback_url: d.callback_url.trim_end_matches('/').to_string(), key, token_ttl: d.token_ttl })
    }

    pub fn token_ttl(&self) -> u64 {
        self.token_ttl
    }

    /// A fresh message id and its report URL for connector `connector`, accepted
    /// until `now + token_ttl`.
    pub fn request(&self, connector: &str, now: u64) -> Result<ReportRequest, TokenError> {
        let id = MessageId::random()?;
        let token = token::issue(self.key.expose(), &id, now.saturating_add(self.token_ttl));
        let account_url = format!("{}/{}", self.callback_url, path_segment(connector));
        Ok(ReportRequest { url: format!("{account_url}/{token}"), account_url, token, id })
    }
}
