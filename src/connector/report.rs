//! How each provider is asked for a delivery report, added to the request its
//! preset built (`[delivery] callback_url` set). The `http` connector places
//! `{{dlr_url}}` itself; `command` and `spool` cannot ask.

use serde_json::Value;

use super::http::{Request, form, with_query};
use crate::dlr::ReportRequest;

/// Kannel's report classes: delivered 1 | failed 2 | buffered 4 | SMSC accepted 8 | SMSC rejected 16.
pub const KANNEL_DLR_MASK: &str = "31";

/// What Kannel substitutes into the dlr-url it calls: %d the report type, %A the
/// SMSC's answer (SMPP receipt text, "NACK/<reason>").
pub const KANNEL_DLR_QUERY: &str = "?type=%d&reply=%A";

/// Add the report request of connector type `kind` to `request`.
pub fn ask(kind: &str, request: &mut Request, report: &ReportRequest) {
    match kind {
        "kannel" => {
            let dlr_url = format!("{}{KANNEL_DLR_QUERY}", report.url);
            request.url = with_query(&request.url, &[("dlr-mask", KANNEL_DLR_MASK), ("dlr-url", &dlr_url)]);
        }
        "twilio" => add_form(request, &[("StatusCallback", &report.url)]),
        "vonage" => add_form(request, &[("status-report-req", "1"), ("callback", &report.url), ("client-ref", &report.token)]),
        "plivo" => add_json(request, None, &[("url", &report.url), ("method", "POST")]),
        "messagebird" => add_json(request, None, &[("reportUrl", &report.url), ("reference", &report.token)]),
        "sinch" => add_json(
            request,
            None,
            &[("callback_url", &report.url), ("delivery_report", "per_recipient_final"), ("client_reference", &report.token)],
        ),
        "telnyx" => add_json(request, None, &[("webhook_url", &report.url)]),
        "infobip" => add_json(
            request,
            Some("/messages/0"),
            &[("notifyUrl", &report.url), ("notifyContentType", "application/json"), ("callbackData", &report.token)],
        ),
        // account-level webhooks at `report.account_url`: the message is found by its echoed id
        "clickatell" => add_json(request, Some("/messages/0"), &[("clientMessageId", &report.token)]),
        "bulksms" => add_json(request, None, &[("userSuppliedId", &report.token), ("deliveryReports", "ALL")]),
        _ => {}
    }
}

fn add_form(request: &mut Request, params: &[(&str, &str)]) {
    let extra = form(params);
    let body = request.body.get_or_insert_with(Vec::new);
    if !body.is_empty() {
        body.push(b'&');
    }
    body.extend_from_slice(extra.as_bytes());
}

/// Set string fields in the JSON object at `pointer` (the root when None).
fn add_json(request: &mut Request, pointer: Option<&str>, fields: &[(&str, &str)]) {
    let Some(body) = &request.body else { return };
    let Ok(mut doc) = serde_json::from_slice::<Value>(body) else { return };
    let target = match pointer {
        Some(p) => doc.pointer_mut(p),
        None => Some(&mut doc),
    };
    if let Some(Value::Object(object)) = target {
        for (k, v) in fields {
            object.insert((*k).to_string(), Value::String((*v).to_string()));
        }
    }
    request.body = Some(doc.to_string().into_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HttpMethod;
    use crate::dlr::MessageId;

    fn report() -> ReportRequest {
        ReportRequest {
            url: "https://dlr.example/r/gw/AAAAAAAAAAAAAAAAAAAA".into(),
            account_url: "https://dlr.example/r/gw".into(),
            token: "AAAAAAAAAAAAAAAAAAAA".into(),
            id: MessageId::from_bytes([0; 6]),
        }
    }

    #[test]
    fn a_form_body_gets_its_fields_appended() {
        let mut r = Request { method: HttpMethod::Post, url: "https://x/".into(), headers: vec![], body: Some(b"To=1".to_vec()) };
        ask("twilio", &mut r, &report());
        assert_eq!(r.body.unwrap(), b"To=1&StatusCallback=https%3A%2F%2Fdlr.example%2Fr%2Fgw%2FAAAAAAAAAAAAAAAAAAAA");
    }

    #[test]
    fn kannel_gets_a_mask_and_a_url_with_its_escapes() {
        let mut r = Request { method: HttpMethod::Get, url: "http://k/cgi-bin/sendsms?to=1".into(), headers: vec![], body: None };
        ask("kannel", &mut r, &report());
        assert!(
            r.url.contains("&dlr-mask=31&dlr-url=https%3A%2F%2Fdlr.example%2Fr%2Fgw%2FAAAAAAAAAAAAAAAAAAAA%3Ftype%3D%25d%26reply%3D%25A"),
            "{}",
            r.url
        );
    }

    #[test]
    fn nested_json_fields_land_in_the_message() {
        let mut r = Request {
            method: HttpMethod::Post,
            url: "https://x/".into(),
            headers: vec![],
            body: Some(br#"{"messages":[{"text":"t"}]}"#.to_vec()),
        };
        ask("infobip", &mut r, &report());
        let v: Value = serde_json::from_slice(&r.body.unwrap()).unwrap();
        assert_eq!(v["messages"][0]["callbackData"], "AAAAAAAAAAAAAAAAAAAA");
        assert_eq!(v["messages"][0]["text"], "t");
    }
}
