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

use crate::auth::{DeliveryLog, Receipt, SendFailed, Sender, Sms};
use crate::config::{Config, ConnectorConfig};
use crate::dlr::ReportRequest;
use crate::dlr::record::DeliveryState;
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
    /// What the reports say (set by the wiring when reports are on): to start a
    /// resend after a connector whose message failed, and to try demoted ones last.
    pub delivery: Option<Box<dyn DeliveryLog>>,
    /// The connector and report id of the last message sent in this login.
    last: std::cell::RefCell<Option<(usize, String)>>,
}

impl Chain {
    pub fn from_config(config: &Config) -> Chain {
        let connectors = config
            .connectors
            .iter()
            .enumerate()
            .map(|(i, c)| Named { name: c.display_name(i), kind: c.kind(), connector: build(c) })
            .collect();
        Chain { connectors, reports: reports::Reports::from_config(config), delivery: None, last: Default::default() }
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
        for i in self.order(log) {
            let named = &self.connectors[i];
            let left = remaining.saturating_sub(started.elapsed());
            // recorded before the message goes: a gateway may report back before it answers
            let report = self
                .reports
                .as_ref()
                .and_then(|r| r.request(named, log))
                .filter(|report| self.reports.as_ref().is_some_and(|r| r.record_sent(named, report, sms, log)));
            let tried =
                if left.is_zero() { Err(DeliveryError::NoTimeLeft) } else { named.connector.deliver_reported(sms, report.as_ref(), left) };
            match tried {
                Ok(delivery) => {
                    log.debug(&format!("connector {}: accepted ({})", named.name, delivery.answer));
                    *self.last.borrow_mut() = report.as_ref().map(|r| (i, r.id.as_text()));
                    return Ok(Receipt { connector: named.name.clone(), message_id: delivery.message_id });
                }
                Err(e) => {
                    log.warn(&format!("connector {}: {e}", named.name));
                    if let (Some(reports), Some(report)) = (&self.reports, &report) {
                        reports.forget_sent(report);
                    }
                }
            }
        }
        Err(SendFailed)
    }

    fn undelivered(&self) -> Option<String> {
        self.last_failed().map(|(_, reason)| reason)
    }
}

impl Chain {
    /// The connector of the last message and the reason, when it was reported failed.
    fn last_failed(&self) -> Option<(usize, String)> {
        let (i, id) = self.last.borrow().clone()?;
        match self.delivery.as_ref()?.report(&id)? {
            (DeliveryState::Failed, reason) => Some((i, reason)),
            _ => None,
        }
    }

    /// The order to try the connectors in this time.
    fn order(&self, log: &dyn Log) -> Vec<usize> {
        let Some(delivery) = &self.delivery else { return (0..self.connectors.len()).collect() };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let demoted: Vec<bool> = self.connectors.iter().map(|n| delivery.demoted(&n.name, now)).collect();
        for (named, _) in self.connectors.iter().zip(&demoted).filter(|(_, d)| **d) {
            log.notice(&format!("connector {}: demoted after failed delivery reports; tried last", named.name));
        }
        order(self.connectors.len(), &demoted, self.last_failed().map(|(i, _)| i))
    }
}

/// Connectors 0..n in order, starting after `after_failed` (whose message was
/// reported failed) when set, and with the demoted ones last.
pub fn order(n: usize, demoted: &[bool], after_failed: Option<usize>) -> Vec<usize> {
    let start = after_failed.map_or(0, |i| (i + 1) % n.max(1));
    let rotated = (0..n).map(|k| (start + k) % n);
    let (ok, last): (Vec<usize>, Vec<usize>) = rotated.partition(|&i| !demoted.get(i).copied().unwrap_or(false));
    ok.into_iter().chain(last).collect()
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

#[cfg(test)]
mod order_tests {
    use super::order;

    #[test]
    fn a_resend_starts_after_the_connector_that_failed_and_demoted_ones_go_last() {
        assert_eq!(order(3, &[false; 3], None), [0, 1, 2]);
        assert_eq!(order(3, &[false; 3], Some(0)), [1, 2, 0]);
        assert_eq!(order(3, &[false; 3], Some(2)), [0, 1, 2]);
        assert_eq!(order(3, &[true, false, false], None), [1, 2, 0]);
        assert_eq!(order(3, &[false, true, false], Some(0)), [2, 0, 1]);
        assert_eq!(order(0, &[], Some(0)), Vec::<usize>::new());
    }
}
