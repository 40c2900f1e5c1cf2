//! `type = "http"`: any HTTP gateway, in simple mode (named parameters) or
//! template mode (a request body or URL with placeholders).

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;

use super::agent::{self, AgentOptions};
use super::template::{self, Values};
use super::{Connector, Delivery, DeliveryError, redact, redact_id};
use crate::auth::Sms;
use crate::config::{BodyType, HttpAuth, HttpConfig, HttpMethod};
use crate::dlr::ReportRequest;

const MAX_ANSWER_BYTES: u64 = 64 * 1024;

/// An HTTP API that sends SMS: the generic `http` connector or a provider preset.
pub trait Provider {
    fn request(&self, sms: &Sms<'_>) -> Request;
    /// The request asking for a delivery report at `report` (presets: their
    /// fields added by `report::ask`; the generic connector fills `{{dlr_url}}`).
    fn request_reported(&self, sms: &Sms<'_>, report: Option<&ReportRequest>) -> Request {
        let mut request = self.request(sms);
        if let Some(report) = report {
            super::report::ask(self.kind(), &mut request, report);
        }
        request
    }
    /// The connector type ("twilio", "http"...).
    fn kind(&self) -> &'static str;
    fn judge(&self, answer: &Answer, sms: &Sms<'_>) -> Result<Delivery, DeliveryError>;
}

/// The one way every HTTP gateway, generic or preset, is sent to: its request
/// through an agent of the module's own, at most 64 KiB of answer, judged the
/// way its provider means it.
pub struct HttpDelivery {
    pub provider: Box<dyn Provider>,
    pub timeout: u64,
    pub proxy: Option<String>,
    pub ca_file: Option<PathBuf>,
}

impl Connector for HttpDelivery {
    fn deliver(&self, sms: &Sms<'_>, remaining: Duration) -> Result<Delivery, DeliveryError> {
        self.deliver_reported(sms, None, remaining)
    }

    fn deliver_reported(&self, sms: &Sms<'_>, report: Option<&ReportRequest>, remaining: Duration) -> Result<Delivery, DeliveryError> {
        let request = self.provider.request_reported(sms, report);
        let options = AgentOptions {
            timeout: remaining.min(Duration::from_secs(self.timeout)),
            proxy: self.proxy.as_deref(),
            ca_file: self.ca_file.as_deref(),
            https: request.url.starts_with("https://"),
        };
        let answer = send(&agent::build(&options)?, &request)?;
        self.provider.judge(&answer, sms)
    }
}

/// `type = "http"`: the request and the success checks come from the config.
pub struct HttpConnector {
    config: HttpConfig,
}

/// A request ready to go, independent of the HTTP library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: HttpMethod,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

/// What came back, for the success checks.
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl HttpConnector {
    pub fn new(config: HttpConfig) -> Self {
        HttpConnector { config }
    }

    /// This connector behind the one HTTP delivery path.
    pub fn delivery(config: HttpConfig) -> HttpDelivery {
        let (timeout, proxy, ca_file) = (config.timeout, config.proxy.clone(), config.ca_file.clone());
        HttpDelivery { provider: Box::new(HttpConnector::new(config)), timeout, proxy, ca_file }
    }
}

impl Provider for HttpConnector {
    fn request(&self, sms: &Sms<'_>) -> Request {
        self.request_reported(sms, None)
    }

    fn kind(&self) -> &'static str {
        "http"
    }

    fn request_reported(&self, sms: &Sms<'_>, report: Option<&ReportRequest>) -> Request {
        let c = &self.config;
        let dlr_url = report.map(|r| r.url.as_str()).unwrap_or("");
        let values = Values { to: sms.to.e164(), text: sms.text, from: c.from.as_deref().unwrap_or(""), dlr_url };
        let mut headers: Vec<(String, String)> = c.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if let Some(auth) = auth_header(&c.auth) {
            headers.push(("Authorization".into(), auth));
        }
        let (url, body) = if c.is_template_mode() {
            let url = with_query(
                &template::fill_percent(&c.url, &values),
                &c.params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>(),
            );
            let body = c.body_template.as_ref().map(|t| match c.content_type {
                BodyType::Json => template::fill_json(t, &values).into_bytes(),
                BodyType::Form | BodyType::None => template::fill_percent(t, &values).into_bytes(),
            });
            (url, body)
        } else {
            let mut params: Vec<(&str, &str)> = c.params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            if let Some(p) = &c.to_param {
                params.push((p, values.to));
            }
            if let Some(p) = &c.body_param {
                params.push((p, values.text));
            }
            if let (Some(p), Some(from)) = (&c.from_param, &c.from) {
                params.push((p, from));
            }
            match c.content_type {
                BodyType::None => (with_query(&c.url, &params), None),
                BodyType::Form => (c.url.clone(), Some(form(&params).into_bytes())),
                BodyType::Json => {
                    let object: serde_json::Map<String, serde_json::Value> =
                        params.iter().map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string()))).collect();
                    (c.url.clone(), Some(serde_json::Value::Object(object).to_string().into_bytes()))
                }
            }
        };
        let has_content_type = headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        if body.is_some() && !has_content_type {
            let ct = match c.content_type {
                BodyType::Json => "application/json",
                _ => "application/x-www-form-urlencoded",
            };
            headers.push(("Content-Type".into(), ct.into()));
        }
        Request { method: c.method, url, headers, body }
    }

    /// Judge the answer by status, then `success_json`, then `success_regex`.
    fn judge(&self, answer: &Answer, sms: &Sms<'_>) -> Result<Delivery, DeliveryError> {
        let c = &self.config;
        if !c.success_status.contains(&answer.status) {
            return Err(DeliveryError::Status { status: answer.status, body: redact(&answer.body, sms) });
        }
        let json = || serde_json::from_str::<serde_json::Value>(&answer.body);
        if let Some(rule) = &c.success_json {
            let doc = json()
                .map_err(|_| DeliveryError::BadResponse(format!("HTTP {}: not JSON: {}", answer.status, redact(&answer.body, sms))))?;
            match doc.pointer(&rule.pointer) {
                Some(v) if scalar_text(v).as_deref() == Some(rule.equals.as_str()) => {}
                Some(v) => {
                    return Err(DeliveryError::Rejected(format!(
                        "{} is {}, not {:?}: {}",
                        rule.pointer,
                        redact(&v.to_string(), sms),
                        rule.equals,
                        redact(&answer.body, sms)
                    )));
                }
                None => {
                    return Err(DeliveryError::Rejected(format!("{} is missing: {}", rule.pointer, redact(&answer.body, sms))));
                }
            }
        }
        // compiled once, with its cost bounded, when the config was read
        if let Some(re) = &c.success_regex {
            match re.is_match(&answer.body) {
                Some(true) => {}
                Some(false) => {
                    return Err(DeliveryError::Rejected(format!("answer does not match success_regex: {}", redact(&answer.body, sms))));
                }
                None => return Err(DeliveryError::Local("success_regex is invalid".into())),
            }
        }
        let message_id = c.message_id.as_ref().and_then(|p| json().ok()?.pointer(p).and_then(scalar_text)).map(|id| redact_id(&id, sms));
        Ok(Delivery { message_id, answer: format!("HTTP {}", answer.status) })
    }
}

/// Send a prepared request and read at most 64 KiB of the answer.
pub fn send(agent: &ureq::Agent, request: &Request) -> Result<Answer, DeliveryError> {
    let method = match request.method {
        HttpMethod::Get => ureq::http::Method::GET,
        HttpMethod::Post => ureq::http::Method::POST,
        HttpMethod::Put => ureq::http::Method::PUT,
    };
    let mut builder = ureq::http::Request::builder().method(method).uri(&request.url);
    for (k, v) in &request.headers {
        builder = builder.header(k, v);
    }
    let result = match &request.body {
        Some(body) => builder.body(body.clone()).map(|r| agent.run(r)),
        None => builder.body(()).map(|r| agent.run(r)),
    };
    let mut response =
        result.map_err(|_| DeliveryError::Local("the request could not be built (bad URL or header)".into()))?.map_err(agent::classify)?;
    let status = response.status().as_u16();
    let body = response.body_mut().with_config().limit(MAX_ANSWER_BYTES).read_to_vec().map_err(agent::classify)?;
    Ok(Answer { status, body: String::from_utf8_lossy(&body).into_owned() })
}

fn auth_header(auth: &HttpAuth) -> Option<String> {
    match auth {
        HttpAuth::None {} => None,
        HttpAuth::Basic { username, password, .. } => {
            let pass = password.as_ref().map(|p| p.expose()).unwrap_or("");
            Some(basic(username, pass))
        }
        HttpAuth::Bearer { token, .. } => Some(format!("Bearer {}", token.as_ref().map(|t| t.expose()).unwrap_or(""))),
    }
}

pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

pub fn form(params: &[(&str, &str)]) -> String {
    params.iter().map(|(k, v)| format!("{}={}", template::percent(k), template::percent(v))).collect::<Vec<_>>().join("&")
}

pub fn with_query(url: &str, params: &[(&str, &str)]) -> String {
    if params.is_empty() {
        return url.to_string();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{}", form(params))
}

/// A JSON scalar as text: strings as they are, numbers and booleans printed.
pub fn scalar_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConnectorConfig};
    use crate::phone::Phone;

    fn http(toml: &str) -> HttpConnector {
        let cfg = Config::parse(&format!("[[connector]]\ntype = \"http\"\n{toml}")).unwrap();
        match &cfg.connectors[0] {
            ConnectorConfig::Http(h) => HttpConnector::new(h.clone()),
            _ => unreachable!(),
        }
    }

    fn with_sms<T>(f: impl FnOnce(&Sms<'_>) -> T) -> T {
        let to = Phone::normalise("+15551234567", "").unwrap();
        f(&Sms { to: &to, text: "123456 is your code & more", code: "123456", seq: "AB", expires: 1_700_000_300, user: "alice" })
    }

    #[test]
    fn simple_mode_query_string() {
        let c = http(
            "url = \"https://gw.example/send?key=1\"\nmethod = \"GET\"\ncontent_type = \"none\"\nto_param = \"to\"\nbody_param = \"msg\"\nfrom_param = \"sender\"\nfrom = \"ACME\"\nparams = { route = \"otp\" }",
        );
        let r = with_sms(|s| c.request(s));
        assert_eq!(r.method, HttpMethod::Get);
        assert_eq!(
            r.url,
            "https://gw.example/send?key=1&route=otp&to=%2B15551234567&msg=123456%20is%20your%20code%20%26%20more&sender=ACME"
        );
        assert_eq!(r.body, None);
    }

    #[test]
    fn simple_mode_form_and_json_bodies() {
        let c = http(
            "url = \"https://gw.example/send\"\nto_param = \"to\"\nbody_param = \"text\"\nauth = { type = \"basic\", username = \"u\", password = \"p\" }",
        );
        let r = with_sms(|s| c.request(s));
        assert_eq!(r.body.as_deref(), Some(&b"to=%2B15551234567&text=123456%20is%20your%20code%20%26%20more"[..]));
        assert!(r.headers.contains(&("Authorization".into(), "Basic dTpw".into())));
        assert!(r.headers.contains(&("Content-Type".into(), "application/x-www-form-urlencoded".into())));

        let c = http(
            "url = \"https://gw.example/send\"\nmethod = \"PUT\"\ncontent_type = \"json\"\nto_param = \"to\"\nbody_param = \"text\"\nauth = { type = \"bearer\", token = \"T0K\" }\nheaders = { \"X-Client\" = \"pam\" }",
        );
        let r = with_sms(|s| c.request(s));
        let v: serde_json::Value = serde_json::from_slice(r.body.as_deref().unwrap()).unwrap();
        assert_eq!(v["to"], "+15551234567");
        assert_eq!(v["text"], "123456 is your code & more");
        assert!(r.headers.contains(&("Authorization".into(), "Bearer T0K".into())));
        assert!(r.headers.contains(&("X-Client".into(), "pam".into())));
        assert!(r.headers.contains(&("Content-Type".into(), "application/json".into())));
    }

    #[test]
    fn judging_by_status_json_and_regex() {
        let c = http(
            "url = \"https://gw/\"\nto_param = \"to\"\nbody_param = \"text\"\nsuccess_json = { pointer = \"/messages/0/status\", equals = \"0\" }\nmessage_id = \"/messages/0/message-id\"",
        );
        with_sms(|s| {
            let ok = Answer { status: 200, body: r#"{"messages":[{"status":"0","message-id":"abc"}]}"#.into() };
            assert_eq!(c.judge(&ok, s).unwrap().message_id.as_deref(), Some("abc"));
            let refused = Answer { status: 200, body: r#"{"messages":[{"status":"2","error-text":"Missing to param"}]}"#.into() };
            assert!(matches!(c.judge(&refused, s), Err(DeliveryError::Rejected(_))));
            let garbage = Answer { status: 200, body: "<html>".into() };
            assert!(matches!(c.judge(&garbage, s), Err(DeliveryError::BadResponse(_))));
            let e500 = Answer { status: 500, body: "oops for +15551234567".into() };
            match c.judge(&e500, s) {
                Err(DeliveryError::Status { status: 500, body }) => assert!(!body.contains("5551234567")),
                other => panic!("{other:?}"),
            }
        });
        let c = http("url = \"https://gw/\"\nto_param = \"to\"\nbody_param = \"text\"\nsuccess_regex = \"^0: \"");
        with_sms(|s| {
            assert!(c.judge(&Answer { status: 202, body: "0: Accepted for delivery".into() }, s).is_ok());
            assert!(c.judge(&Answer { status: 202, body: "3: Queued".into() }, s).is_err());
        });
    }
}
