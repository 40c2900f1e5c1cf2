//! Provider callbacks as `smsotp-dlrd` receives them: each provider's documented
//! shape (query, form or JSON; one report or a batch) read into the normalised
//! delivery state, a one-word reason and the provider's own status word.

use serde_json::Value;

use super::record::DeliveryState;
use super::request::form_pairs;

/// What arrived, already bounded by the request parser.
pub struct Callback<'a> {
    pub query: &'a str,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
    /// The token in the URL path (per-message URLs); None for account webhooks.
    pub url_token: Option<&'a str>,
}

/// One report read from a callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub token: Option<String>,
    pub state: DeliveryState,
    /// One word, ≤ 64 characters of [a-z0-9_.-].
    pub reason: String,
    /// The provider's status word, cleaned the same way.
    pub provider_status: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("not a report this connector's provider sends")]
    NotAReport,
    #[error("this connector type sends no reports")]
    NoReports,
}

/// Reports in a callback for a connector of type `kind`.
pub fn interpret(kind: &str, cb: &Callback<'_>) -> Result<Vec<Parsed>, CallbackError> {
    let params = Params::of(cb);
    let json = || -> Result<Value, CallbackError> { serde_json::from_slice(cb.body).map_err(|_| CallbackError::NotAReport) };
    let one = |token: Option<String>, status: Option<String>, reason: Option<String>, map: fn(&str) -> DeliveryState| {
        let status = status.filter(|s| !s.is_empty()).ok_or(CallbackError::NotAReport)?;
        let state = map(&status);
        Ok(vec![parsed(cb.url_token.map(str::to_string).or(token), state, &status, reason)])
    };
    match kind {
        "kannel" => {
            let kind_code = params.get("type").ok_or(CallbackError::NotAReport)?;
            let reply = params.get("reply").unwrap_or_default();
            let (state, reason) = kannel(&kind_code, &reply);
            Ok(vec![Parsed { token: cb.url_token.map(str::to_string), state, reason, provider_status: word(&kind_code) }])
        }
        "twilio" => one(None, params.get("MessageStatus").or(params.get("SmsStatus")), params.get("ErrorCode"), twilio),
        "vonage" => {
            let doc = json().ok();
            let get = |k: &str| params.get(k).or_else(|| doc.as_ref().and_then(|d| text(d, &format!("/{k}"))));
            let reason = get("err-code").filter(|c| c != "0");
            one(get("client-ref"), get("status"), reason, vonage)
        }
        "plivo" => one(None, params.get("Status"), params.get("ErrorCode"), plivo),
        "messagebird" => {
            one(params.get("reference"), params.get("status"), params.get("statusErrorCode").or(params.get("statusReason")), messagebird)
        }
        "sinch" => {
            let d = json()?;
            one(text(&d, "/client_reference"), text(&d, "/status"), text(&d, "/code"), sinch)
        }
        "telnyx" => {
            let d = json()?;
            let status = text(&d, "/data/payload/to/0/status");
            one(None, status, text(&d, "/data/payload/errors/0/code"), telnyx)
        }
        "infobip" => {
            let d = json()?;
            let results = d.get("results").and_then(Value::as_array).ok_or(CallbackError::NotAReport)?;
            batch(results, cb, |r| {
                let group = text(r, "/status/groupName")?;
                let name = text(r, "/status/name").unwrap_or_default();
                let state = infobip(&group, &name);
                let reason = text(r, "/error/name").filter(|e| e != "NO_ERROR").or(Some(name.clone()));
                Some(parsed(text(r, "/callbackData"), state, &format!("{group}.{name}"), reason))
            })
        }
        "clickatell" => {
            let d = json()?;
            let updates = d.pointer("/event/messageStatusUpdate").and_then(Value::as_array).ok_or(CallbackError::NotAReport)?;
            batch(updates, cb, |u| {
                let code = text(u, "/statusCode")?;
                let status = text(u, "/status").unwrap_or_else(|| code.clone());
                Some(parsed(text(u, "/clientMessageId"), clickatell(&code), &status, Some(status.clone())))
            })
        }
        "bulksms" => {
            let d = json()?;
            let items = d.as_array().ok_or(CallbackError::NotAReport)?;
            batch(items, cb, |m| {
                let kind = text(m, "/status/type")?;
                let sub = text(m, "/status/subtype");
                Some(parsed(text(m, "/userSuppliedId"), bulksms(&kind), &kind, sub.or(Some(kind.clone()))))
            })
        }
        "http" => {
            let doc = json().ok();
            let get = |k: &str| params.get(k).or_else(|| doc.as_ref().and_then(|d| text(d, &format!("/{k}"))));
            one(None, get("status"), get("reason").or(get("error")), generic)
        }
        _ => Err(CallbackError::NoReports),
    }
}

fn batch(items: &[Value], cb: &Callback<'_>, read: impl Fn(&Value) -> Option<Parsed>) -> Result<Vec<Parsed>, CallbackError> {
    let mut out: Vec<Parsed> = items.iter().filter_map(read).collect();
    if let Some(t) = cb.url_token {
        for p in &mut out {
            p.token = Some(t.to_string());
        }
    }
    if out.is_empty() {
        return Err(CallbackError::NotAReport);
    }
    Ok(out)
}

fn parsed(token: Option<String>, state: DeliveryState, status: &str, reason: Option<String>) -> Parsed {
    let reason = match (state, reason.as_deref().map(word).filter(|r| !r.is_empty())) {
        (DeliveryState::Failed, Some(r)) => r,
        (_, Some(r)) if state != DeliveryState::Delivered => r,
        _ => word(status),
    };
    Parsed { token, state, reason, provider_status: word(status) }
}

/// Lower-case [a-z0-9_.-], other runs as one '_', at most 64 characters: safe in
/// a key=value log line and a file.
pub fn word(text: &str) -> String {
    let mut out = String::new();
    for c in text.trim().chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
        if out.len() >= 64 {
            break;
        }
    }
    out.trim_matches('_').to_string()
}

fn text(doc: &Value, pointer: &str) -> Option<String> {
    match doc.pointer(pointer)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Query parameters, and form fields of a form body.
struct Params(Vec<(String, String)>);

impl Params {
    fn of(cb: &Callback<'_>) -> Params {
        let mut pairs = form_pairs(cb.query);
        let form = cb.content_type.is_some_and(|c| c.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
        if form {
            pairs.extend(form_pairs(&String::from_utf8_lossy(cb.body)));
        }
        Params(pairs)
    }

    fn get(&self, key: &str) -> Option<String> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }
}

/// Kannel's %d and %A: 1 delivered, 2 failed (SMPP "stat:UNDELIV err:001"),
/// 16 rejected by the SMSC ("NACK/<reason>"), 4/8/32 intermediate.
fn kannel(code: &str, reply: &str) -> (DeliveryState, String) {
    let field = |name: &str| reply.split_whitespace().find_map(|p| p.strip_prefix(name)).map(word);
    match code.trim() {
        "1" => (DeliveryState::Delivered, "delivered".into()),
        "2" => {
            let stat = field("stat:").unwrap_or_else(|| "undelivered".into());
            let reason = match field("err:") {
                Some(err) => format!("{stat}_err_{err}"),
                None => stat,
            };
            (DeliveryState::Failed, word(&reason))
        }
        "16" => {
            let why = reply.strip_prefix("NACK/").map(word).filter(|w| !w.is_empty());
            (DeliveryState::Failed, why.map_or_else(|| "rejected".into(), |w| word(&format!("rejected_{w}"))))
        }
        "4" => (DeliveryState::Pending, "buffered".into()),
        "8" => (DeliveryState::Pending, "smsc_accepted".into()),
        "32" => (DeliveryState::Pending, "intermediate".into()),
        other => (DeliveryState::Unknown, word(other)),
    }
}

fn twilio(s: &str) -> DeliveryState {
    match s {
        "delivered" | "read" => DeliveryState::Delivered,
        "undelivered" | "failed" | "canceled" => DeliveryState::Failed,
        "queued" | "sending" | "sent" | "accepted" | "scheduled" => DeliveryState::Pending,
        _ => DeliveryState::Unknown,
    }
}

fn vonage(s: &str) -> DeliveryState {
    match s {
        "delivered" => DeliveryState::Delivered,
        "expired" | "failed" | "rejected" => DeliveryState::Failed,
        "accepted" | "buffered" => DeliveryState::Pending,
        _ => DeliveryState::Unknown,
    }
}

fn plivo(s: &str) -> DeliveryState {
    match s {
        "delivered" => DeliveryState::Delivered,
        "undelivered" | "failed" | "rejected" => DeliveryState::Failed,
        "queued" | "sent" => DeliveryState::Pending,
        _ => DeliveryState::Unknown,
    }
}

fn messagebird(s: &str) -> DeliveryState {
    match s {
        "delivered" => DeliveryState::Delivered,
        "expired" | "delivery_failed" => DeliveryState::Failed,
        "scheduled" | "sent" | "buffered" => DeliveryState::Pending,
        _ => DeliveryState::Unknown,
    }
}

fn sinch(s: &str) -> DeliveryState {
    match s {
        "Delivered" => DeliveryState::Delivered,
        "Aborted" | "Cancelled" | "Rejected" | "Deleted" | "Failed" | "Expired" => DeliveryState::Failed,
        "Queued" | "Dispatched" => DeliveryState::Pending,
        _ => DeliveryState::Unknown,
    }
}

fn telnyx(s: &str) -> DeliveryState {
    match s {
        "delivered" => DeliveryState::Delivered,
        "sending_failed" | "delivery_failed" | "expired" | "cancelled" => DeliveryState::Failed,
        "scheduled" | "queued" | "sending" | "sent" => DeliveryState::Pending,
        _ => DeliveryState::Unknown,
    }
}

/// DELIVERED_TO_OPERATOR is the operator's acknowledgement, not the handset's.
fn infobip(group: &str, name: &str) -> DeliveryState {
    match group {
        "DELIVERED" if name == "DELIVERED_TO_OPERATOR" => DeliveryState::Pending,
        "DELIVERED" => DeliveryState::Delivered,
        "UNDELIVERABLE" | "EXPIRED" | "REJECTED" => DeliveryState::Failed,
        "PENDING" => DeliveryState::Pending,
        _ => DeliveryState::Unknown,
    }
}

fn clickatell(code: &str) -> DeliveryState {
    match code {
        "5" | "6" => DeliveryState::Delivered,
        "20" | "21" | "22" | "23" | "25" | "29" | "100" => DeliveryState::Failed,
        "2" | "3" | "4" => DeliveryState::Pending,
        _ => DeliveryState::Unknown,
    }
}

fn bulksms(kind: &str) -> DeliveryState {
    match kind {
        "DELIVERED" => DeliveryState::Delivered,
        "FAILED" => DeliveryState::Failed,
        "ACCEPTED" | "SCHEDULED" | "SENT" => DeliveryState::Pending,
        _ => DeliveryState::Unknown,
    }
}

/// The generic connector: common words and Kannel's numbers.
fn generic(s: &str) -> DeliveryState {
    match s.to_ascii_lowercase().as_str() {
        "delivered" | "delivrd" | "1" => DeliveryState::Delivered,
        "failed" | "undelivered" | "undeliv" | "rejected" | "rejectd" | "expired" | "2" | "16" => DeliveryState::Failed,
        "pending" | "queued" | "sent" | "accepted" | "buffered" | "enroute" | "4" | "8" => DeliveryState::Pending,
        _ => DeliveryState::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(kind: &str, query: &str) -> Vec<Parsed> {
        interpret(kind, &Callback { query, content_type: None, body: b"", url_token: Some("T") }).unwrap()
    }

    #[test]
    fn kannel_types_and_smpp_receipts() {
        let p = get("kannel", "type=2&reply=id%3A1001+sub%3A001+dlvrd%3A000+stat%3AUNDELIV+err%3A001");
        assert_eq!((p[0].state, p[0].reason.as_str()), (DeliveryState::Failed, "undeliv_err_001"));
        let p = get("kannel", "type=16&reply=NACK%2Ffailure%3A+unknown+subscriber");
        assert_eq!((p[0].state, p[0].reason.as_str()), (DeliveryState::Failed, "rejected_failure_unknown_subscriber"));
        assert_eq!(get("kannel", "type=1&reply=")[0].state, DeliveryState::Delivered);
        assert_eq!(get("kannel", "type=8&reply=ACK%2F")[0].state, DeliveryState::Pending);
        assert_eq!(get("kannel", "type=1")[0].token.as_deref(), Some("T"));
    }

    /// Found by the fuzzer: two long parts made a reason over 64 characters.
    #[test]
    fn a_composed_kannel_reason_stays_one_short_word() {
        let long = "x".repeat(100);
        for query in [format!("type=2&reply=stat%3A{long}+err%3A{long}"), format!("type=16&reply=NACK%2F{long}")] {
            let r = &get("kannel", &query)[0].reason;
            assert!(r.len() <= 64, "{r}");
        }
    }

    #[test]
    fn words_are_safe_in_a_log_line() {
        assert_eq!(word(" a b=\"c\"\n\u{7}x "), "a_b_c_x");
        assert_eq!(word(&"x".repeat(500)).len(), 64);
    }
}
