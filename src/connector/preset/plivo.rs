//! Plivo: POST /v1/Account/{auth_id}/Message/ (trailing slash), JSON, Basic auth_id:auth_token.

use super::*;
use crate::config::PlivoConfig;
use crate::connector::template::percent;

pub struct Plivo {
    base: String,
    auth_id: String,
    auth_token: Secret,
    from: String,
}

impl Plivo {
    pub fn new(c: &PlivoConfig) -> Self {
        Plivo {
            base: base(&c.base_url, "https://api.plivo.com"),
            auth_id: c.auth_id.clone(),
            auth_token: Secret::new(secret(&c.auth_token).to_string()),
            from: c.from.clone().unwrap_or_default(),
        }
    }
}

impl Provider for Plivo {
    fn kind(&self) -> &'static str {
        "plivo"
    }

    fn request(&self, sms: &Sms<'_>) -> Request {
        let url = format!("{}/v1/Account/{}/Message/", self.base, percent(&self.auth_id));
        let body = serde_json::json!({ "src": self.from, "dst": sms.to.digits(), "text": sms.text });
        json_post(url, Some(http::basic(&self.auth_id, self.auth_token.expose())), body)
    }

    fn judge(&self, answer: &Answer, sms: &Sms<'_>) -> Result<Delivery, DeliveryError> {
        let doc = accepted_json(answer, &[200, 202], sms, |e| text_at(e, "/error"))?;
        Ok(delivered(answer, text_at(&doc, "/message_uuid/0"), sms))
    }
}
