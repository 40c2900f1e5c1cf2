//! Sinch XMS: POST /xms/v1/{service_plan_id}/batches, JSON, Bearer token; regional hosts.

use super::*;
use crate::config::SinchConfig;
use crate::connector::template::percent;

pub struct Sinch {
    base: String,
    service_plan_id: String,
    api_token: Secret,
    from: String,
}

impl Sinch {
    pub fn new(c: &SinchConfig) -> Self {
        let region = c.region.as_deref().unwrap_or("us");
        Sinch {
            base: base(&c.base_url, &format!("https://{region}.sms.api.sinch.com")),
            service_plan_id: c.service_plan_id.clone(),
            api_token: Secret::new(secret(&c.api_token).to_string()),
            from: c.from.clone().unwrap_or_default(),
        }
    }
}

impl Provider for Sinch {
    fn kind(&self) -> &'static str {
        "sinch"
    }

    fn request(&self, sms: &Sms<'_>) -> Request {
        let url = format!("{}/xms/v1/{}/batches", self.base, percent(&self.service_plan_id));
        let body = serde_json::json!({ "from": self.from, "to": [sms.to.e164()], "body": sms.text });
        json_post(url, Some(format!("Bearer {}", self.api_token.expose())), body)
    }

    fn judge(&self, answer: &Answer, sms: &Sms<'_>) -> Result<Delivery, DeliveryError> {
        let doc = accepted_json(answer, &[200, 201], sms, |e| {
            Some(format!("{}: {}", text_at(e, "/code")?, text_at(e, "/text").unwrap_or_default()))
        })?;
        Ok(delivered(answer, text_at(&doc, "/id"), sms))
    }
}
