//! Clickatell Platform: POST /v1/message, JSON, `Authorization: <apiKey>`. A 202
//! can still carry a refused message: each messages[].accepted must be true.

use super::*;
use crate::config::ClickatellConfig;

pub struct Clickatell {
    base: String,
    api_key: Secret,
    from: Option<String>,
}

impl Clickatell {
    pub fn new(c: &ClickatellConfig) -> Self {
        Clickatell {
            base: base(&c.base_url, "https://platform.clickatell.com"),
            api_key: Secret::new(secret(&c.api_key).to_string()),
            from: c.from.clone(),
        }
    }
}

impl Provider for Clickatell {
    fn kind(&self) -> &'static str {
        "clickatell"
    }

    fn request(&self, sms: &Sms<'_>) -> Request {
        let mut message = serde_json::json!({ "channel": "sms", "to": sms.to.digits(), "content": sms.text });
        if let Some(from) = &self.from {
            message["from"] = Value::String(from.clone());
        }
        let body = serde_json::json!({ "messages": [message] });
        json_post(format!("{}/v1/message", self.base), Some(self.api_key.expose().to_string()), body)
    }

    fn judge(&self, answer: &Answer, sms: &Sms<'_>) -> Result<Delivery, DeliveryError> {
        let error = |e: &Value| {
            text_at(e, "/error/description").or_else(|| text_at(e, "/messages/0/error/description")).or_else(|| text_at(e, "/error"))
        };
        let doc = accepted_json(answer, &[200, 202], sms, error)?;
        let messages = doc.get("messages").and_then(Value::as_array).filter(|m| !m.is_empty());
        let messages = messages.ok_or_else(|| DeliveryError::BadResponse("no messages in the answer".into()))?;
        for m in messages {
            if m.get("accepted").and_then(Value::as_bool) != Some(true) {
                let why = error(&serde_json::json!({ "messages": [m] })).unwrap_or_else(|| "not accepted".into());
                return Err(DeliveryError::Rejected(redact(&why, sms)));
            }
        }
        Ok(delivered(answer, text_at(&messages[0], "/apiMessageId"), sms))
    }
}
