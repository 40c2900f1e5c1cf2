//! Kannel: GET /cgi-bin/sendsms?username&password&to&text, answered 202 with
//! "0: Accepted for delivery", "3: Queued for later delivery", or "Sent." when
//! immediate-sendsms-reply is set; there is no message id.

use super::*;
use crate::config::KannelConfig;
use crate::message::is_gsm7;

pub struct Kannel {
    base: String,
    username: String,
    password: Secret,
    from: Option<String>,
    smsc: Option<String>,
}

impl Kannel {
    pub fn new(c: &KannelConfig) -> Self {
        Kannel {
            base: base(&c.base_url, "http://127.0.0.1:13013"),
            username: c.username.clone(),
            password: Secret::new(secret(&c.password).to_string()),
            from: c.from.clone(),
            smsc: c.smsc.clone(),
        }
    }
}

impl Provider for Kannel {
    fn kind(&self) -> &'static str {
        "kannel"
    }

    fn request(&self, sms: &Sms<'_>) -> Request {
        let mut params = vec![("username", self.username.as_str()), ("password", self.password.expose())];
        if let Some(from) = &self.from {
            params.push(("from", from));
        }
        params.push(("to", sms.to.e164()));
        params.push(("text", sms.text));
        if !is_gsm7(sms.text) {
            params.extend([("charset", "UTF-8"), ("coding", "2")]);
        }
        if let Some(smsc) = &self.smsc {
            params.push(("smsc", smsc));
        }
        let url = http::with_query(&format!("{}/cgi-bin/sendsms", self.base), &params);
        Request { method: HttpMethod::Get, url, headers: Vec::new(), body: None }
    }

    fn judge(&self, answer: &Answer, sms: &Sms<'_>) -> Result<Delivery, DeliveryError> {
        let said = redact(answer.body.trim(), sms);
        let accepted = ["0:", "3:", "Sent."].iter().any(|p| answer.body.starts_with(p));
        match answer.status {
            200 | 202 if accepted => Ok(Delivery { message_id: None, answer: format!("HTTP {}: {said}", answer.status) }),
            200 | 202 => Err(DeliveryError::Rejected(said)),
            status => Err(DeliveryError::Status { status, body: said }),
        }
    }
}
