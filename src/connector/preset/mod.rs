//! Provider presets: each builds exactly the request its provider documents and
//! judges the answer the way the provider means it.

mod bulksms;
mod clickatell;
mod infobip;
mod kannel;
mod messagebird;
mod plivo;
mod sinch;
mod telnyx;
mod twilio;
mod vonage;

use std::path::PathBuf;

use serde_json::Value;

use super::http::{self, Answer, HttpDelivery, Provider, Request};
use super::{Connector, Delivery, DeliveryError, redact, redact_id};
use crate::auth::Sms;
use crate::config::{ConnectorConfig, HttpMethod, PresetCommon, Secret};

/// The preset for a provider entry, or None for the other connector types.
pub fn build(config: &ConnectorConfig) -> Option<Box<dyn Connector>> {
    let (provider, common) = provider(config)?;
    Some(Box::new(HttpDelivery {
        provider,
        timeout: common.timeout,
        proxy: common.proxy.map(str::to_string),
        ca_file: common.ca_file.map(PathBuf::from),
    }))
}

/// The provider of a preset entry and the settings all presets share.
pub(crate) fn provider(config: &ConnectorConfig) -> Option<(Box<dyn Provider>, PresetCommon<'_>)> {
    Some(match config {
        ConnectorConfig::Twilio(c) => (Box::new(twilio::Twilio::new(c)), c.common()),
        ConnectorConfig::Vonage(c) => (Box::new(vonage::Vonage::new(c)), c.common()),
        ConnectorConfig::Plivo(c) => (Box::new(plivo::Plivo::new(c)), c.common()),
        ConnectorConfig::Clickatell(c) => (Box::new(clickatell::Clickatell::new(c)), c.common()),
        ConnectorConfig::BulkSms(c) => (Box::new(bulksms::BulkSms::new(c)), c.common()),
        ConnectorConfig::MessageBird(c) => (Box::new(messagebird::MessageBird::new(c)), c.common()),
        ConnectorConfig::Sinch(c) => (Box::new(sinch::Sinch::new(c)), c.common()),
        ConnectorConfig::Telnyx(c) => (Box::new(telnyx::Telnyx::new(c)), c.common()),
        ConnectorConfig::Infobip(c) => (Box::new(infobip::Infobip::new(c)), c.common()),
        ConnectorConfig::Kannel(c) => (Box::new(kannel::Kannel::new(c)), c.common()),
        _ => return None,
    })
}

/// `base_url` from the config, else the provider's default, without a trailing '/'.
fn base(configured: &Option<String>, default: &str) -> String {
    configured.as_deref().unwrap_or(default).trim_end_matches('/').to_string()
}

fn secret(s: &Option<Secret>) -> &str {
    s.as_ref().map(Secret::expose).unwrap_or("")
}

fn json_post(url: String, auth: Option<String>, body: Value) -> Request {
    let mut headers =
        vec![("Content-Type".to_string(), "application/json".to_string()), ("Accept".to_string(), "application/json".to_string())];
    if let Some(a) = auth {
        headers.push(("Authorization".into(), a));
    }
    Request { method: HttpMethod::Post, url, headers, body: Some(body.to_string().into_bytes()) }
}

fn form_post(url: String, auth: Option<String>, params: &[(&str, &str)]) -> Request {
    let mut headers = vec![
        ("Content-Type".to_string(), "application/x-www-form-urlencoded".to_string()),
        ("Accept".to_string(), "application/json".to_string()),
    ];
    if let Some(a) = auth {
        headers.push(("Authorization".into(), a));
    }
    Request { method: HttpMethod::Post, url, headers, body: Some(http::form(params).into_bytes()) }
}

/// The answer's JSON when its status is one of `ok`; otherwise the provider's own
/// error text (found by `error_text`, else the body), redacted.
fn accepted_json(
    answer: &Answer,
    ok: &[u16],
    sms: &Sms<'_>,
    error_text: impl Fn(&Value) -> Option<String>,
) -> Result<Value, DeliveryError> {
    let doc = serde_json::from_str::<Value>(&answer.body);
    if !ok.contains(&answer.status) {
        let said = doc.ok().as_ref().and_then(&error_text).unwrap_or_else(|| answer.body.clone());
        return Err(DeliveryError::Status { status: answer.status, body: redact(&said, sms) });
    }
    doc.map_err(|_| DeliveryError::BadResponse(format!("HTTP {}: not JSON: {}", answer.status, redact(&answer.body, sms))))
}

fn text_at(doc: &Value, pointer: &str) -> Option<String> {
    doc.pointer(pointer).and_then(http::scalar_text)
}

fn delivered(answer: &Answer, id: Option<String>, sms: &Sms<'_>) -> Delivery {
    Delivery { message_id: id.map(|i| redact_id(&i, sms)), answer: format!("HTTP {}", answer.status) }
}
