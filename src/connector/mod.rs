//! SMS delivery adapters behind `auth::Sender`, built from `[[connector]]` and
//! tried in order until one accepts the message.

mod agent;
mod command;
pub(crate) mod http;
pub(crate) mod preset;
mod redact;
pub(crate) mod report;
mod reports;
mod spool;
pub(crate) mod template;

use std::time::Duration;

pub use redact::{redact, redact_id};

use crate::auth::{Receipt, SendFailed, Sender, Sms};
use crate::config::{Config, ConnectorConfig};
use crate::dlr::ReportRequest;
use crate::log::Log;

/// Why one connector did not deliver. Texts are safe to log: no message text,
/// code, secret or full number (provider replies pass through `redact`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("timed out")]
    Timeout,
    #[error("TLS failed: {0}")]
    Tls(String),
    #[error("HTTP status {status}: {body}")]
    Status { status: u16, body: String },
    #[error("the gateway refused the message: {0}")]
    Rejected(String),
    #[error("unreadable answer: {0}")]
    BadResponse(String),
    #[error("{0}")]
    Local(String),
    #[error("no time left in the login's budget")]
    NoTimeLeft,
}

/// What a gateway said when it took the message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    pub message_id: Option<String>,
    /// A short, redacted summary of the answer, e.g. "HTTP 201".
    pub answer: String,
}

pub trait Connector {
    fn deliver(&self, sms: &Sms<'_>, timeout: Duration) -> Result<Delivery, DeliveryError>;
    /// As `deliver`, asking the provider for a delivery report where it can.
    fn deliver_reported(&self, sms: &Sms<'_>, report: Option<&ReportRequest>, timeout: Duration) -> Result<Delivery, DeliveryError> {
        let _ = report;
        self.deliver(sms, timeout)
    }
}

pub struct Named {
    pub name: String,
    /// The connector type ("kannel", "twilio", "http", "command"...).
    pub kind: &'static str,
    pub connector: Box<dyn Connector>,
}

/// The configured connectors in order.
pub struct Chain {
    pub connectors: Vec<Named>,
    /// `[delivery]` when reports are on: asked for with every message that can carry one.
    pub reports: Option<reports::Reports>,
}

impl Chain {
    pub fn from_config(config: &Config) -> Chain {
        let connectors = config
            .connectors
            .iter()
            .enumerate()
            .map(|(i, c)| Named { name: c.display_name(i), kind: c.kind(), connector: build(c) })
            .collect();
        Chain { connectors, reports: reports::Reports::from_config(config) }
    }

    /// Deliver through one connector, as `smsotp send-test` does for each.
    pub fn try_one(named: &Named, sms: &Sms<'_>, remaining: Duration) -> Result<Delivery, DeliveryError> {
        if remaining.is_zero() {
            return Err(DeliveryError::NoTimeLeft);
        }
        named.connector.deliver(sms, remaining)
    }
}

impl Sender for Chain {
    fn send(&self, sms: &Sms<'_>, remaining: Duration, log: &dyn Log) -> Result<Receipt, SendFailed> {
        let started = std::time::Instant::now();
        for named in &self.connectors {
            let left = remaining.saturating_sub(started.elapsed());
            let report = self.reports.as_ref().and_then(|r| r.request(named, log));
            let tried =
                if left.is_zero() { Err(DeliveryError::NoTimeLeft) } else { named.connector.deliver_reported(sms, report.as_ref(), left) };
            match tried {
                Ok(delivery) => {
                    log.debug(&format!("connector {}: accepted ({})", named.name, delivery.answer));
                    if let (Some(reports), Some(report)) = (&self.reports, &report) {
                        reports.record_sent(named, report, sms, log);
                    }
                    return Ok(Receipt { connector: named.name.clone(), message_id: delivery.message_id });
                }
                Err(e) => log.warn(&format!("connector {}: {e}", named.name)),
            }
        }
        Err(SendFailed)
    }
}

fn build(config: &ConnectorConfig) -> Box<dyn Connector> {
    match config {
        ConnectorConfig::Http(h) => Box::new(http::HttpConnector::delivery(h.clone())),
        ConnectorConfig::Spool(s) => Box::new(spool::SpoolConnector::new(s.path.clone())),
        ConnectorConfig::Command(c) => Box::new(command::CommandConnector::new(c.clone())),
        preset => match preset::build(preset) {
            Some(connector) => connector,
            None => Box::new(Unknown(preset.kind())),
        },
    }
}

/// Every connector type is handled above; kept so a new type fails closed.
struct Unknown(&'static str);

impl Connector for Unknown {
    fn deliver(&self, _: &Sms<'_>, _: Duration) -> Result<Delivery, DeliveryError> {
        Err(DeliveryError::Local(format!("connector type {} is not supported by this build", self.0)))
    }
}
