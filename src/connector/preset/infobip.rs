//! Infobip: POST /sms/2/text/advanced on the account's own base URL, JSON,
//! `Authorization: App <apiKey>`; a message in status group REJECTED is refused.

use super::*;
use crate::config::InfobipConfig;

pub struct Infobip {
    base: String,
    api_key: Secret,
    from: Option<String>,
}

impl Infobip {
    pub fn new(c: &InfobipConfig) -> Self {
        Infobip {
            base: base(&c.base_url, "https://api.infobip.com"),
            api_key: Secret::new(secret(&c.api_key).to_string()),
            from: c.from.clone(),
        }
    }
}

impl Provider for Infobip {
    fn kind(&self) -> &'static str {
        "infobip"
    }

    fn request(&self, sms: &Sms<'_>) -> Request {
        let mut message = serde_json::json!({ "destinations": [{ "to": sms.to.digits() }], "text": sms.text });
        if let Some(from) = &self.from {
            message["from"] = Value::String(from.clone());
        }
        let body = serde_json::json!({ "messages": [message] });
        json_post(format!("{}/sms/2/text/advanced", self.base), Some(format!("App {}", self.api_key.expose())), body)
    }

    fn judge(&self, answer: &Answer, sms: &Sms<'_>) -> Result<Delivery, DeliveryError> {
        let doc = accepted_json(answer, &[200, 201], sms, |e| text_at(e, "/requestError/serviceException/text"))?;
        if text_at(&doc, "/messages/0/status/groupName").as_deref() == Some("REJECTED") {
            let why = text_at(&doc, "/messages/0/status/description").unwrap_or_else(|| "rejected".into());
            return Err(DeliveryError::Rejected(redact(&why, sms)));
        }
        Ok(delivered(answer, text_at(&doc, "/messages/0/messageId"), sms))
    }
}
