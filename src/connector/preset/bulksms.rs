//! BulkSMS: POST /v1/messages?auto-unicode=true, JSON, Basic username:password.

use super::*;
use crate::config::BulkSmsConfig;

pub struct BulkSms {
    base: String,
    username: String,
    password: Secret,
    from: Option<String>,
}

impl BulkSms {
    pub fn new(c: &BulkSmsConfig) -> Self {
        BulkSms {
            base: base(&c.base_url, "https://api.bulksms.com"),
            username: c.username.clone(),
            password: Secret::new(secret(&c.password).to_string()),
            from: c.from.clone(),
        }
    }
}

impl Provider for BulkSms {
    fn kind(&self) -> &'static str {
        "bulksms"
    }

    fn request(&self, sms: &Sms<'_>) -> Request {
        let mut body = serde_json::json!({ "to": sms.to.e164(), "body": sms.text });
        if let Some(from) = &self.from {
            body["from"] = Value::String(from.clone());
        }
        let url = format!("{}/v1/messages?auto-unicode=true", self.base);
        json_post(url, Some(http::basic(&self.username, self.password.expose())), body)
    }

    fn judge(&self, answer: &Answer, sms: &Sms<'_>) -> Result<Delivery, DeliveryError> {
        let doc = accepted_json(answer, &[200, 201], sms, |e| {
            Some(format!("{}: {}", text_at(e, "/title")?, text_at(e, "/detail").unwrap_or_default()))
        })?;
        Ok(delivered(answer, text_at(&doc, "/0/id"), sms))
    }
}
