//! MessageBird: POST /messages, JSON, `Authorization: AccessKey <key>`.

use super::*;
use crate::config::MessageBirdConfig;
use crate::message::is_gsm7;

pub struct MessageBird {
    base: String,
    access_key: Secret,
    originator: String,
}

impl MessageBird {
    pub fn new(c: &MessageBirdConfig) -> Self {
        MessageBird {
            base: base(&c.base_url, "https://rest.messagebird.com"),
            access_key: Secret::new(secret(&c.access_key).to_string()),
            originator: c.from.clone().unwrap_or_default(),
        }
    }
}

impl Provider for MessageBird {
    fn kind(&self) -> &'static str {
        "messagebird"
    }

    fn request(&self, sms: &Sms<'_>) -> Request {
        let datacoding = if is_gsm7(sms.text) { "plain" } else { "unicode" };
        let body = serde_json::json!({
            "recipients": [sms.to.digits()],
            "originator": self.originator,
            "body": sms.text,
            "datacoding": datacoding,
        });
        json_post(format!("{}/messages", self.base), Some(format!("AccessKey {}", self.access_key.expose())), body)
    }

    fn judge(&self, answer: &Answer, sms: &Sms<'_>) -> Result<Delivery, DeliveryError> {
        let doc = accepted_json(answer, &[200, 201], sms, |e| text_at(e, "/errors/0/description"))?;
        Ok(delivered(answer, text_at(&doc, "/id"), sms))
    }
}
