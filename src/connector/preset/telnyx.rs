//! Telnyx: POST /v2/messages, JSON, Bearer API key.

use super::*;
use crate::config::TelnyxConfig;

pub struct Telnyx {
    base: String,
    api_key: Secret,
    from: Option<String>,
    messaging_profile_id: Option<String>,
}

impl Telnyx {
    pub fn new(c: &TelnyxConfig) -> Self {
        Telnyx {
            base: base(&c.base_url, "https://api.telnyx.com"),
            api_key: Secret::new(secret(&c.api_key).to_string()),
            from: c.from.clone(),
            messaging_profile_id: c.messaging_profile_id.clone(),
        }
    }
}

impl Provider for Telnyx {
    fn kind(&self) -> &'static str {
        "telnyx"
    }

    fn request(&self, sms: &Sms<'_>) -> Request {
        let mut body = serde_json::json!({ "to": sms.to.e164(), "text": sms.text });
        if let Some(from) = &self.from {
            body["from"] = Value::String(from.clone());
        }
        if let Some(id) = &self.messaging_profile_id {
            body["messaging_profile_id"] = Value::String(id.clone());
        }
        json_post(format!("{}/v2/messages", self.base), Some(format!("Bearer {}", self.api_key.expose())), body)
    }

    fn judge(&self, answer: &Answer, sms: &Sms<'_>) -> Result<Delivery, DeliveryError> {
        let doc =
            accepted_json(answer, &[200, 201, 202], sms, |e| text_at(e, "/errors/0/detail").or_else(|| text_at(e, "/errors/0/title")))?;
        Ok(delivered(answer, text_at(&doc, "/data/id"), sms))
    }
}
