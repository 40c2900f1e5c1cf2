//! Vonage SMS API: POST /sms/json, form, api_key and api_secret in the body. It
//! answers HTTP 200 even when it refuses a message: every messages[].status must be "0".

use super::*;
use crate::config::VonageConfig;
use crate::message::is_gsm7;

pub struct Vonage {
    base: String,
    api_key: String,
    api_secret: Secret,
    from: String,
}

impl Vonage {
    pub fn new(c: &VonageConfig) -> Self {
        Vonage {
            base: base(&c.base_url, "https://rest.nexmo.com"),
            api_key: c.api_key.clone(),
            api_secret: Secret::new(secret(&c.api_secret).to_string()),
            from: c.from.clone().unwrap_or_default(),
        }
    }
}

impl Provider for Vonage {
    fn kind(&self) -> &'static str {
        "vonage"
    }

    fn request(&self, sms: &Sms<'_>) -> Request {
        let mut params = vec![
            ("api_key", self.api_key.as_str()),
            ("api_secret", self.api_secret.expose()),
            ("from", self.from.as_str()),
            ("to", sms.to.digits()),
            ("text", sms.text),
        ];
        if !is_gsm7(sms.text) {
            params.push(("type", "unicode"));
        }
        form_post(format!("{}/sms/json", self.base), None, &params)
    }

    fn judge(&self, answer: &Answer, sms: &Sms<'_>) -> Result<Delivery, DeliveryError> {
        let doc = accepted_json(answer, &[200], sms, |e| text_at(e, "/error-text"))?;
        let messages = doc.get("messages").and_then(Value::as_array).filter(|m| !m.is_empty());
        let messages = messages.ok_or_else(|| DeliveryError::BadResponse("no messages in the answer".into()))?;
        for m in messages {
            let status = text_at(m, "/status").unwrap_or_default();
            if status != "0" {
                let why = text_at(m, "/error-text").unwrap_or_default();
                return Err(DeliveryError::Rejected(redact(&format!("status {status}: {why}"), sms)));
            }
        }
        Ok(delivered(answer, text_at(&messages[0], "/message-id"), sms))
    }
}
