//! Every provider preset against a local fake of that provider. Each fake checks
//! the request as the provider would (path, method, auth, content type, field
//! names, number format) and answers with the provider's documented bodies, so
//! a wrong credential or field name fails the test.

mod common;

use std::time::Duration;

use base64::Engine;
use common::gateway::{Gateway, Mode, Request};
use pam_smsotp::auth::Sms;
use pam_smsotp::config::Config;
use pam_smsotp::connector::{Chain, Delivery, DeliveryError};
use pam_smsotp::phone::Phone;

const TO: &str = "+15551234567";
const TEXT: &str = "482913 is your code & more";
const UNICODE: &str = "Код 482913 – ваш";

fn basic(user: &str, pass: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")))
}

/// Send one SMS through the first connector of `toml` (its base_url pointing at `gw`).
fn send(toml: &str, text: &str) -> Result<Delivery, DeliveryError> {
    let config = Config::parse(toml).unwrap_or_else(|e| panic!("{e}: {toml}"));
    let chain = Chain::from_config(&config);
    let to = Phone::normalise(TO, "").unwrap();
    let sms = Sms { to: &to, text, code: "482913", seq: "AB", expires: 1_700_000_300, user: "alice" };
    Chain::try_one(&chain.connectors[0], &sms, Duration::from_secs(5))
}

/// A failed check of the fake answers 400 with what was wrong.
fn check(conditions: &[(bool, &str)]) -> Result<(), (u16, &'static str, String)> {
    for (ok, what) in conditions {
        if !ok {
            return Err((400, "application/json", format!(r#"{{"fake_error":"{what}"}}"#)));
        }
    }
    Ok(())
}

fn json_ct(r: &Request) -> bool {
    r.header("content-type").is_some_and(|c| c.starts_with("application/json"))
}

fn form_ct(r: &Request) -> bool {
    r.header("content-type").is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
}

// ---------------------------------------------------------------- Twilio

fn twilio_fake() -> Gateway {
    Gateway::start(Mode::handler(|r| {
        let ok = check(&[
            (r.method == "POST", "method"),
            (r.path() == "/2010-04-01/Accounts/AC123/Messages.json", "path"),
            (r.header("authorization") == Some(basic("AC123", "tok3n").as_str()), "auth"),
            (form_ct(r), "content type"),
            (r.field("From").as_deref() == Some("+15550001111"), "From"),
            (r.field("Body").is_some(), "Body"),
        ]);
        if let Err(e) = ok {
            return e;
        }
        if r.field("To").as_deref() != Some(TO) {
            return (
                400,
                "application/json",
                format!(
                    r#"{{"code":21211,"message":"The 'To' number {} is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}}"#,
                    r.field("To").unwrap_or_default()
                ),
            );
        }
        (201, "application/json", r#"{"sid":"SM0123456789abcdef","status":"queued","num_segments":"1"}"#.into())
    }))
}

fn twilio_config(gw: &Gateway, token: &str) -> String {
    format!(
        "[[connector]]\ntype = \"twilio\"\nbase_url = \"{}\"\naccount_sid = \"AC123\"\nauth_token = \"{token}\"\nfrom = \"+15550001111\"\n",
        gw.url("")
    )
}

#[test]
fn twilio_sends_the_documented_request() {
    let gw = twilio_fake();
    let d = send(&twilio_config(&gw, "tok3n"), TEXT).unwrap();
    assert_eq!(d.message_id.as_deref(), Some("SM0123456789abcdef"));
    assert_eq!(gw.requests()[0].field("Body").as_deref(), Some(TEXT));
    let e = send(&twilio_config(&gw, "wrong"), TEXT).unwrap_err();
    assert!(matches!(e, DeliveryError::Status { status: 400, .. }), "{e}");
}

#[test]
fn twilio_error_json_is_logged_without_the_number() {
    let gw = Gateway::start(Mode::json(
        400,
        &format!(
            r#"{{"code":21211,"message":"The 'To' number {TO} is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}}"#
        ),
    ));
    let e = send(&twilio_config(&gw, "tok3n"), TEXT).unwrap_err().to_string();
    assert!(e.contains("HTTP status 400: 21211 The 'To' number [redacted] is not a valid phone number."), "{e}");
    assert!(!e.contains("5551234567"), "{e}");
}

// ---------------------------------------------------------------- Vonage

fn vonage_fake() -> Gateway {
    Gateway::start(Mode::handler(|r| {
        if let Err(e) = check(&[
            (r.method == "POST" && r.path() == "/sms/json", "path"),
            (form_ct(r), "content type"),
            (r.field("from").as_deref() == Some("ACME"), "from"),
            (r.field("to").as_deref() == Some(&TO[1..]), "to without +"),
            (r.field("text").is_some(), "text"),
        ]) {
            return e;
        }
        // Vonage answers 200 whatever happens
        if r.field("api_key").as_deref() != Some("key1") || r.field("api_secret").as_deref() != Some("s3cret") {
            return (200, "application/json", r#"{"message-count":"1","messages":[{"status":"4","error-text":"Bad Credentials"}]}"#.into());
        }
        let unicode = !r.field("text").unwrap_or_default().is_ascii();
        if unicode && r.field("type").as_deref() != Some("unicode") {
            return (
                200,
                "application/json",
                r#"{"message-count":"1","messages":[{"status":"3","error-text":"Invalid Message: non-GSM text without type=unicode"}]}"#
                    .into(),
            );
        }
        (200, "application/json", r#"{"message-count":"1","messages":[{"to":"15551234567","message-id":"0A0000000123ABCD1","status":"0","remaining-balance":"3.14159265","message-price":"0.03330000","network":"12345"}]}"#.into())
    }))
}

fn vonage_config(gw: &Gateway, secret: &str) -> String {
    format!(
        "[[connector]]\ntype = \"vonage\"\nbase_url = \"{}\"\napi_key = \"key1\"\napi_secret = \"{secret}\"\nfrom = \"ACME\"\n",
        gw.url("")
    )
}

#[test]
fn vonage_success_is_every_message_status_zero() {
    let gw = vonage_fake();
    let d = send(&vonage_config(&gw, "s3cret"), TEXT).unwrap();
    assert_eq!(d.message_id.as_deref(), Some("0A0000000123ABCD1"));
    let e = send(&vonage_config(&gw, "wrong"), TEXT).unwrap_err().to_string();
    assert!(e.contains("refused the message: status 4: Bad Credentials"), "HTTP 200 with an error body is a failure: {e}");
}

#[test]
fn vonage_sends_unicode_as_type_unicode() {
    let gw = vonage_fake();
    send(&vonage_config(&gw, "s3cret"), UNICODE).unwrap();
    assert_eq!(gw.requests()[0].field("text").as_deref(), Some(UNICODE));
    send(&vonage_config(&gw, "s3cret"), TEXT).unwrap();
    assert_eq!(gw.requests()[1].field("type"), None);
}

// ---------------------------------------------------------------- Plivo

#[test]
fn plivo_sends_json_with_basic_auth_to_the_trailing_slash_path() {
    let gw = Gateway::start(Mode::handler(|r| {
        let j = r.json();
        if let Err(e) = check(&[
            (r.method == "POST" && r.path() == "/v1/Account/MA42/Message/", "path"),
            (r.header("authorization") == Some(basic("MA42", "ptoken").as_str()), "auth"),
            (json_ct(r), "content type"),
            (j["src"] == "+15550001111", "src"),
            (j["dst"] == TO[1..], "dst without +"),
            (j["text"] == TEXT, "text"),
        ]) {
            return (401, "application/json", r#"{"api_id":"d1","error":"authentication failed"}"#.into()).min(e);
        }
        (
            202,
            "application/json",
            r#"{"api_id":"db342550","message":"message(s) queued","message_uuid":["db3ce55a-7f1d-11e1-8ea7-1231380bc196"]}"#.into(),
        )
    }));
    let toml = format!(
        "[[connector]]\ntype = \"plivo\"\nbase_url = \"{}\"\nauth_id = \"MA42\"\nauth_token = \"ptoken\"\nfrom = \"+15550001111\"\n",
        gw.url("")
    );
    let d = send(&toml, TEXT).unwrap();
    assert_eq!(d.message_id.as_deref(), Some("db3ce55a-7f1d-11e1-8ea7-1231380bc196"));
    let e = send(&toml.replace("ptoken", "bad"), TEXT).unwrap_err().to_string();
    assert!(e.contains("HTTP status 400") || e.contains("HTTP status 401"), "{e}");
}

// ---------------------------------------------------------------- Clickatell

#[test]
fn clickatell_needs_every_message_accepted() {
    let gw = Gateway::start(Mode::handler(|r| {
        let j = r.json();
        if let Err(e) = check(&[
            (r.method == "POST" && r.path() == "/v1/message", "path"),
            (json_ct(r), "content type"),
            (j["messages"][0]["channel"] == "sms", "channel"),
            (j["messages"][0]["to"] == TO[1..], "to without +"),
            (j["messages"][0]["content"] == TEXT, "content"),
        ]) {
            return e;
        }
        if r.header("authorization") != Some("ck-api-key") {
            return (
                401,
                "application/json",
                r#"{"messages":[],"error":{"code":"1","description":"Invalid or missing integration API Key","documentation":"x"}}"#.into(),
            );
        }
        (202, "application/json", r#"{"messages":[{"apiMessageId":"1d1aa5bd2f1c4f3b9d0b","accepted":true,"to":"15551234567","channel":"sms","error":null}],"error":null}"#.into())
    }));
    let toml = format!("[[connector]]\ntype = \"clickatell\"\nbase_url = \"{}\"\napi_key = \"ck-api-key\"\n", gw.url(""));
    assert_eq!(send(&toml, TEXT).unwrap().message_id.as_deref(), Some("1d1aa5bd2f1c4f3b9d0b"));
    let e = send(&toml.replace("ck-api-key", "nope"), TEXT).unwrap_err().to_string();
    assert!(e.contains("401") && e.contains("Invalid or missing integration API Key"), "{e}");
    gw.set_mode(Mode::json(202, r#"{"messages":[{"apiMessageId":"","accepted":false,"to":"15551234567","error":{"code":"105","description":"Invalid destination address","documentation":"x"}}],"error":null}"#));
    let e = send(&toml, TEXT).unwrap_err().to_string();
    assert!(e.contains("refused the message: Invalid destination address"), "{e}");
}

// ---------------------------------------------------------------- BulkSMS

#[test]
fn bulksms_asks_for_auto_unicode() {
    let gw = Gateway::start(Mode::handler(|r| {
        let j = r.json();
        if let Err(e) = check(&[
            (r.method == "POST" && r.path() == "/v1/messages", "path"),
            (r.query("auto-unicode").as_deref() == Some("true"), "auto-unicode"),
            (json_ct(r), "content type"),
            (j["to"] == TO, "to with +"),
            (j["body"].is_string(), "body"),
        ]) {
            return e;
        }
        if r.header("authorization") != Some(basic("bulkuser", "bulkpass").as_str()) {
            return (401, "application/problem+json", r#"{"type":"https://developer.bulksms.com/json/v1/errors#authentication-failed","title":"Authentication Failed","status":401,"detail":"You do not have valid authentication credentials"}"#.into());
        }
        (201, "application/json", r#"[{"id":"1073741824","type":"SENT","from":"","to":"+15551234567","body":"x","encoding":"TEXT","status":{"id":"ACCEPTED.null","type":"ACCEPTED"}}]"#.into())
    }));
    let toml =
        format!("[[connector]]\ntype = \"bulksms\"\nbase_url = \"{}\"\nusername = \"bulkuser\"\npassword = \"bulkpass\"\n", gw.url(""));
    assert_eq!(send(&toml, UNICODE).unwrap().message_id.as_deref(), Some("1073741824"));
    assert_eq!(gw.requests()[0].json()["body"], UNICODE);
    let e = send(&toml.replace("bulkpass", "x"), TEXT).unwrap_err().to_string();
    assert!(e.contains("401: Authentication Failed: You do not have valid authentication credentials"), "{e}");
}

// ---------------------------------------------------------------- MessageBird

#[test]
fn messagebird_uses_accesskey_and_recipients() {
    let gw = Gateway::start(Mode::handler(|r| {
        let j = r.json();
        if r.header("authorization") != Some("AccessKey live_key") {
            return (
                401,
                "application/json",
                r#"{"errors":[{"code":2,"description":"Request not allowed (incorrect access_key)","parameter":null}]}"#.into(),
            );
        }
        if let Err(e) = check(&[
            (r.method == "POST" && r.path() == "/messages", "path"),
            (json_ct(r), "content type"),
            (j["recipients"][0] == TO[1..], "recipients without +"),
            (j["originator"] == "ACME", "originator"),
            (j["body"].is_string(), "body"),
        ]) {
            return e;
        }
        let expected = if j["body"].as_str().unwrap_or("").is_ascii() { "plain" } else { "unicode" };
        if j["datacoding"] != expected {
            return (
                422,
                "application/json",
                r#"{"errors":[{"code":9,"description":"wrong datacoding","parameter":"datacoding"}]}"#.into(),
            );
        }
        (201, "application/json", r#"{"id":"e8077d803532c0b5937c639b60216938","href":"https://rest.messagebird.com/messages/e8077d80","direction":"mt","type":"sms","originator":"ACME"}"#.into())
    }));
    let toml =
        format!("[[connector]]\ntype = \"messagebird\"\nbase_url = \"{}\"\naccess_key = \"live_key\"\nfrom = \"ACME\"\n", gw.url(""));
    assert_eq!(send(&toml, TEXT).unwrap().message_id.as_deref(), Some("e8077d803532c0b5937c639b60216938"));
    send(&toml, UNICODE).unwrap();
    let e = send(&toml.replace("live_key", "x"), TEXT).unwrap_err().to_string();
    assert!(e.contains("Request not allowed (incorrect access_key)"), "{e}");
}

// ---------------------------------------------------------------- Sinch

#[test]
fn sinch_posts_a_batch_with_bearer_auth() {
    let gw = Gateway::start(Mode::handler(|r| {
        let j = r.json();
        if r.header("authorization") != Some("Bearer sinch-token") {
            return (401, "application/json", r#"{"code":"unauthorized","text":"Unauthorized"}"#.into());
        }
        if let Err(e) = check(&[
            (r.method == "POST" && r.path() == "/xms/v1/plan7/batches", "path"),
            (json_ct(r), "content type"),
            (j["to"][0] == TO, "to array with +"),
            (j["from"] == "+15550001111", "from"),
            (j["body"] == TEXT, "body"),
        ]) {
            return e;
        }
        (
            201,
            "application/json",
            r#"{"id":"01FC66621XXXXX119Z8PMV1QPQ","to":["15551234567"],"from":"15550001111","canceled":false,"body":"x","type":"mt_text"}"#
                .into(),
        )
    }));
    let toml = format!(
        "[[connector]]\ntype = \"sinch\"\nbase_url = \"{}\"\nservice_plan_id = \"plan7\"\napi_token = \"sinch-token\"\nfrom = \"+15550001111\"\n",
        gw.url("")
    );
    assert_eq!(send(&toml, TEXT).unwrap().message_id.as_deref(), Some("01FC66621XXXXX119Z8PMV1QPQ"));
    let e = send(&toml.replace("sinch-token", "x"), TEXT).unwrap_err().to_string();
    assert!(e.contains("401: unauthorized: Unauthorized"), "{e}");
}

// ---------------------------------------------------------------- Telnyx

#[test]
fn telnyx_posts_v2_messages() {
    let gw = Gateway::start(Mode::handler(|r| {
        let j = r.json();
        if r.header("authorization") != Some("Bearer KEYtelnyx") {
            return (
                401,
                "application/json",
                r#"{"errors":[{"code":"10009","title":"Authentication failed","detail":"The API key looks malformed."}]}"#.into(),
            );
        }
        if let Err(e) = check(&[
            (r.method == "POST" && r.path() == "/v2/messages", "path"),
            (json_ct(r), "content type"),
            (j["to"] == TO, "to with +"),
            (j["from"] == "+15550001111", "from"),
            (j["text"] == TEXT, "text"),
        ]) {
            return e;
        }
        (
            200,
            "application/json",
            r#"{"data":{"id":"b0c7e8cb-6227-4c74-9f32-c7f80c30934b","record_type":"message","direction":"outbound","type":"SMS"}}"#.into(),
        )
    }));
    let toml =
        format!("[[connector]]\ntype = \"telnyx\"\nbase_url = \"{}\"\napi_key = \"KEYtelnyx\"\nfrom = \"+15550001111\"\n", gw.url(""));
    assert_eq!(send(&toml, TEXT).unwrap().message_id.as_deref(), Some("b0c7e8cb-6227-4c74-9f32-c7f80c30934b"));
    let e = send(&toml.replace("KEYtelnyx", "x"), TEXT).unwrap_err().to_string();
    assert!(e.contains("The API key looks malformed."), "{e}");
}

// ---------------------------------------------------------------- Infobip

#[test]
fn infobip_uses_app_auth_and_destinations() {
    let gw = Gateway::start(Mode::handler(|r| {
        let j = r.json();
        if r.header("authorization") != Some("App ib-key") {
            return (
                401,
                "application/json",
                r#"{"requestError":{"serviceException":{"messageId":"UNAUTHORIZED","text":"Invalid login details"}}}"#.into(),
            );
        }
        if let Err(e) = check(&[
            (r.method == "POST" && r.path() == "/sms/2/text/advanced", "path"),
            (json_ct(r), "content type"),
            (j["messages"][0]["destinations"][0]["to"] == TO[1..], "to without +"),
            (j["messages"][0]["text"] == TEXT, "text"),
            (j["messages"][0]["from"] == "ACME", "from"),
        ]) {
            return e;
        }
        (200, "application/json", r#"{"bulkId":"2034072219640523072","messages":[{"to":"15551234567","status":{"groupId":1,"groupName":"PENDING","id":26,"name":"PENDING_ACCEPTED","description":"Message sent to next instance"},"messageId":"2250be2d4219-3af1-78856-aabe-1362af1edfd2"}]}"#.into())
    }));
    let toml = format!("[[connector]]\ntype = \"infobip\"\nbase_url = \"{}\"\napi_key = \"ib-key\"\nfrom = \"ACME\"\n", gw.url(""));
    assert_eq!(send(&toml, TEXT).unwrap().message_id.as_deref(), Some("2250be2d4219-3af1-78856-aabe-1362af1edfd2"));
    let e = send(&toml.replace("ib-key", "x"), TEXT).unwrap_err().to_string();
    assert!(e.contains("Invalid login details"), "{e}");
    gw.set_mode(Mode::json(200, r#"{"messages":[{"to":"15551234567","status":{"groupId":5,"groupName":"REJECTED","id":51,"name":"REJECTED_DESTINATION","description":"Destination rejected"},"messageId":"x"}]}"#));
    let e = send(&toml, TEXT).unwrap_err().to_string();
    assert!(e.contains("refused the message: Destination rejected"), "{e}");
}

// ---------------------------------------------------------------- Kannel (fake; the real one is in tests/kannel.rs)

#[test]
fn kannel_sendsms_query_and_answers() {
    let gw = Gateway::start(Mode::handler(|r| {
        if r.method != "GET" || r.path() != "/cgi-bin/sendsms" {
            return (404, "text/html", "Unknown service".into());
        }
        if r.query("username").as_deref() != Some("pam") || r.query("password").as_deref() != Some("kpass") {
            return (403, "text/html", "Authorization failed for sendsms".into());
        }
        if r.query("to").as_deref() != Some(TO) {
            return (400, "text/html", "Missing receiver number, rejected".into());
        }
        let text = r.query("text").unwrap_or_default();
        if !text.is_ascii() && (r.query("coding").as_deref() != Some("2") || r.query("charset").as_deref() != Some("UTF-8")) {
            return (400, "text/html", "charset/coding missing".into());
        }
        (202, "text/html", "0: Accepted for delivery".into())
    }));
    let toml = format!(
        "[[connector]]\ntype = \"kannel\"\nbase_url = \"{}\"\nusername = \"pam\"\npassword = \"kpass\"\nfrom = \"12345\"\n",
        gw.url("")
    );
    let d = send(&toml, TEXT).unwrap();
    assert_eq!(d.answer, "HTTP 202: 0: Accepted for delivery");
    assert_eq!(gw.requests()[0].query("text").as_deref(), Some(TEXT));
    send(&toml, UNICODE).unwrap();
    let e = send(&toml.replace("kpass", "bad"), TEXT).unwrap_err().to_string();
    assert_eq!(e, "HTTP status 403: Authorization failed for sendsms");
    gw.set_mode(Mode::text(202, "3: Queued for later delivery"));
    assert!(send(&toml, TEXT).is_ok());
    gw.set_mode(Mode::text(202, "Sent."));
    assert!(send(&toml, TEXT).is_ok());
    gw.set_mode(Mode::text(503, "Temporal failure, try again later."));
    assert_eq!(send(&toml, TEXT).unwrap_err().to_string(), "HTTP status 503: Temporal failure, try again later.");
    gw.set_mode(Mode::text(202, "Something else"));
    assert!(send(&toml, TEXT).is_err());
}

/// The password never shows in what is logged, though Kannel takes it in the URL.
#[test]
fn kannel_errors_do_not_show_the_url() {
    let port = common::gateway::closed_port();
    let toml = format!(
        "[[connector]]\ntype = \"kannel\"\nbase_url = \"http://127.0.0.1:{port}\"\nusername = \"pam\"\npassword = \"kpass-secret\"\n"
    );
    let e = send(&toml, TEXT).unwrap_err().to_string();
    assert!(!e.contains("kpass-secret") && !e.contains("5551234567"), "{e}");
}
