//! Twilio: POST /2010-04-01/Accounts/{sid}/Messages.json, form, Basic sid:token.

use super::*;
use crate::config::TwilioConfig;
use crate::connector::template::percent;

pub struct Twilio {
    base: String,
    account_sid: String,
    auth_token: Secret,
    from: Option<String>,
    messaging_service_sid: Option<String>,
}

impl Twilio {
    pub fn new(c: &TwilioConfig) -> Self {
        Twilio {
            base: base(&c.base_url, "https://api.twilio.com"),
            account_sid: c.account_sid.clone(),
            auth_token: Secret::new(secret(&c.auth_token).to_string()),
            from: c.from.clone(),
            messaging_service_sid: c.messaging_service_sid.clone(),
        }
    }
}

impl Provider for Twilio {
    fn kind(&self) -> &'static str {
        "twilio"
    }

    fn request(&self, sms: &Sms<'_>) -> Request {
        let url = format!("{}/2010-04-01/Accounts/{}/Messages.json", self.base, percent(&self.account_sid));
        let mut params = vec![("To", sms.to.e164())];
        match (&self.messaging_service_sid, &self.from) {
            (Some(mss), _) => params.push(("MessagingServiceSid", mss)),
            (None, Some(from)) => params.push(("From", from)),
            (None, None) => {}
        }
        params.push(("Body", sms.text));
        form_post(url, Some(http::basic(&self.account_sid, self.auth_token.expose())), &params)
    }

    fn judge(&self, answer: &Answer, sms: &Sms<'_>) -> Result<Delivery, DeliveryError> {
        let doc = accepted_json(answer, &[200, 201], sms, |e| {
            Some(format!("{} {}", text_at(e, "/code")?, text_at(e, "/message").unwrap_or_default()))
        })?;
        Ok(delivered(answer, text_at(&doc, "/sid"), sms))
    }
}
