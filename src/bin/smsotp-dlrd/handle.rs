//! One request: which connector it is for, whether its token and message are
//! real, what it says, and the record and log line it leaves.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use pam_smsotp::config::delivery::path_segment;
use pam_smsotp::config::{Config, DlrKey};
use pam_smsotp::dlr::callback::{Callback, interpret, word};
use pam_smsotp::dlr::record::{DeliveryState, Report};
use pam_smsotp::dlr::request::Head;
use pam_smsotp::dlr::signature::{SignatureError, Signed, verify};
use pam_smsotp::dlr::store::ReportStore;
use pam_smsotp::dlr::token::{self, TOKEN_CHARS};
use pam_smsotp::state::delivery::report_store;
use pam_smsotp::sys::syslog;

use crate::event::{Event, format};

pub struct Receiver {
    /// connector name → type
    connectors: BTreeMap<String, &'static str>,
    key: DlrKey,
    /// For a store per request (a Redis connection lives one login budget).
    config: Config,
    demote_after: u32,
    demote_for: u64,
    /// Read-then-write of a report file, one at a time.
    writing: Mutex<()>,
}

/// The answer: status and a short body.
pub struct Answer {
    pub status: u16,
    pub body: &'static str,
}

const OK: Answer = Answer { status: 200, body: "OK\n" };

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

impl Receiver {
    pub fn new(config: &Config, key: DlrKey) -> Receiver {
        let connectors = config.connectors.iter().enumerate().map(|(i, c)| (c.display_name(i), c.kind())).collect();
        let d = &config.delivery;
        Receiver {
            connectors,
            key,
            config: config.clone(),
            demote_after: d.demote_after,
            demote_for: d.demote_for,
            writing: Mutex::new(()),
        }
    }

    /// `.../<connector>/<token>` (a per-message URL) or `.../<connector>` (an
    /// account webhook, the token in the body).
    fn route<'a>(&self, path: &'a str) -> Option<(String, &'static str, Option<&'a str>)> {
        let mut segments = path.rsplit('/');
        let last = segments.next()?;
        let before = segments.next();
        if last.len() == TOKEN_CHARS
            && let Some((name, kind)) = before.map(decode).and_then(|n| self.connectors.get(&n).map(|k| (n, *k)))
        {
            return Some((name, kind, Some(last)));
        }
        let name = decode(last);
        let kind = *self.connectors.get(&name)?;
        Some((name, kind, None))
    }

    pub fn handle(&self, head: &Head, body: &[u8]) -> Answer {
        let Some((connector, kind, url_token)) = self.route(head.path()) else {
            return Answer { status: 404, body: "no such report URL\n" };
        };
        if let Err(why) = self.check_signature(&connector, kind, url_token, head, body) {
            self.refused(&connector, &word(&why.to_string()));
            return Answer { status: 403, body: "refused\n" };
        }
        let callback = Callback { query: head.query(), content_type: head.header("content-type"), body, url_token };
        let reports = match interpret(kind, &callback) {
            Ok(r) => r,
            Err(e) => {
                // a provider's test call (BulkSMS activates its webhook with `[]`) is acknowledged
                if body.trim_ascii() == b"[]" {
                    return OK;
                }
                self.refused(&connector, &word(&e.to_string()));
                return Answer { status: 400, body: "not a report\n" };
            }
        };
        let now = now();
        let mut store = report_store(&self.config);
        let mut accepted = 0;
        for parsed in reports {
            let Some(tok) = parsed.token.as_deref() else {
                self.refused(&connector, "no_token");
                continue;
            };
            let verified = match token::verify(self.key.expose(), tok, now) {
                Ok(v) => v,
                Err(e) => {
                    self.refused(&connector, &word(&e.to_string()));
                    continue;
                }
            };
            let sent = match store.sent(&verified.id) {
                Ok(Some(s)) if s.connector == connector => s,
                Ok(_) => {
                    self.refused(&connector, "unknown_message");
                    continue;
                }
                Err(e) => {
                    syslog::line(libc::LOG_ERR, &format!("cannot read the sent record: {e}"));
                    continue;
                }
            };
            let report = Report {
                id: sent.id.clone(),
                state: parsed.state,
                reason: parsed.reason,
                provider_status: parsed.provider_status,
                at: now,
                connector: sent.connector.clone(),
                user: sent.user.clone(),
                seq: sent.seq.clone(),
                to: sent.to.clone(),
            };
            if self.record(store.as_mut(), &report, &verified.id) {
                accepted += 1;
            }
        }
        if accepted == 0 {
            return Answer { status: 403, body: "refused\n" };
        }
        OK
    }

    /// The provider's signature, where the connector has `dlr_signing_key_file`:
    /// over the public URL it called (`callback_url`, the connector, the token, the query).
    fn check_signature(
        &self,
        connector: &str,
        kind: &str,
        url_token: Option<&str>,
        head: &Head,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let key =
            self.config.connectors.iter().enumerate().find(|(i, c)| c.display_name(*i) == connector).and_then(|(_, c)| c.dlr_signing_key());
        let Some(key) = key else { return Ok(()) };
        let mut url = format!("{}/{}", self.config.delivery.callback_url.trim_end_matches('/'), path_segment(connector));
        if let Some(token) = url_token {
            url = format!("{url}/{token}");
        }
        if !head.query().is_empty() {
            url = format!("{url}?{}", head.query());
        }
        let form = head.header("content-type").is_some_and(|c| c.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
        verify(kind, key.expose(), &Signed { url: &url, headers: &head.headers, body, form, now: now() })
    }

    /// Write the report unless a final one is there; log it. False when it could not be written.
    fn record(&self, store: &mut dyn ReportStore, report: &Report, id: &pam_smsotp::dlr::MessageId) -> bool {
        let _guard = self.writing.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Ok(Some(existing)) = store.report(id)
            && !existing.may_be_replaced()
        {
            // a duplicate or a late intermediate: acknowledged, nothing changes
            return true;
        }
        if let Err(e) = store.put_report(report) {
            syslog::line(libc::LOG_ERR, &format!("cannot record a report: {e}"));
            return false;
        }
        // not final and not known: no different from pending for whoever reads the log
        let result = if report.state == DeliveryState::Unknown { "pending" } else { report.state.word() };
        let line = format(&Event {
            result,
            reason: &report.reason,
            connector: &report.connector,
            seq: &report.seq,
            user: &report.user,
            to: &report.to,
        });
        syslog::line(if report.state == DeliveryState::Failed { libc::LOG_WARNING } else { libc::LOG_INFO }, &line);
        if report.state.is_final() {
            self.count(store, report);
        }
        true
    }

    /// A final report counts towards (or resets) the connector's demotion.
    fn count(&self, store: &mut dyn ReportStore, report: &Report) {
        let health = store.health(&report.connector).unwrap_or_default();
        let (next, demoted) = health.after(report.state, report.at, self.demote_after, self.demote_for);
        if next == health {
            return;
        }
        if let Err(e) = store.put_health(&report.connector, &next) {
            syslog::line(libc::LOG_ERR, &format!("cannot record connector {}'s delivery record: {e}", report.connector));
            return;
        }
        if demoted {
            let line = format(&Event {
                result: "demoted",
                reason: &format!("{}_failed_in_a_row", self.demote_after),
                connector: &report.connector,
                seq: "",
                user: "",
                to: "",
            });
            syslog::line(libc::LOG_WARNING, &format!("{line} for={}", self.demote_for));
        }
    }

    fn refused(&self, connector: &str, reason: &str) {
        let line = format(&Event { result: "refused", reason, connector, seq: "", user: "", to: "" });
        syslog::line(libc::LOG_NOTICE, &line);
    }
}
