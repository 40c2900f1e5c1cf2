//! Delivery reports, the sending side: with `[delivery] callback_url` set, each
//! preset asks its provider for a report the way the provider documents, with a
//! per-message token the receiver accepts, and a sent record the receiver reads.

mod common;

use std::path::Path;
use std::time::Duration;

use common::dlrd::{Dlrd, KEY, delivery_section};
use common::gateway::{Gateway, Mode, Request};
use common::*;
use pam_smsotp::auth::{Sender, Sms};
use pam_smsotp::config::{Config, DlrKey};
use pam_smsotp::connector::Chain;
use pam_smsotp::dlr::record::{DeliveryState, list, read_report, read_sent};
use pam_smsotp::dlr::token;
use pam_smsotp::log::MemoryLog;
use pam_smsotp::phone::Phone;

const TO: &str = "+15551234567";
const CALLBACK: &str = "https://dlr.example.org/r";

/// One provider: its connector entry (base_url filled in), a success answer, and
/// where its report URL and token must be in the request.
pub struct Preset {
    pub kind: &'static str,
    pub entry: &'static str,
    pub answer: (u16, &'static str),
    /// (report URL, token) as the provider's request carries them.
    pub asked: fn(&Request) -> (Option<String>, Option<String>),
    /// The provider's documented report for the message with `token`, sent to
    /// `target` (the path of its report URL): (method, content type, extra query, body).
    pub callback: fn(token: &str) -> (&'static str, &'static str, String, String),
    /// What the daemon must record from it.
    pub expect: (DeliveryState, &'static str),
}

fn json_str(r: &Request, pointer: &str) -> Option<String> {
    r.json().pointer(pointer).and_then(|v| v.as_str()).map(str::to_string)
}

pub fn presets() -> Vec<Preset> {
    vec![
        Preset {
            kind: "twilio",
            entry: "account_sid = \"AC123\"\nauth_token = \"t\"\nfrom = \"+15550001111\"",
            answer: (201, r#"{"sid":"SM0123456789abcdef","status":"queued"}"#),
            asked: |r| (r.field("StatusCallback"), None),
            callback: |_| {
                ("POST", "application/x-www-form-urlencoded", String::new(), "MessageSid=SM0123456789abcdef&SmsSid=SM0123456789abcdef&MessageStatus=undelivered&SmsStatus=undelivered&AccountSid=AC123&From=%2B15550001111&To=%2B15551234567&ApiVersion=2010-04-01&ErrorCode=30003".into())
            },
            expect: (DeliveryState::Failed, "30003"),
        },
        Preset {
            kind: "vonage",
            entry: "api_key = \"k\"\napi_secret = \"s\"\nfrom = \"ACME\"",
            answer: (200, r#"{"message-count":"1","messages":[{"to":"15551234567","message-id":"0A0000000123ABCD1","status":"0"}]}"#),
            asked: |r| {
                let url = r.field("callback").filter(|_| r.field("status-report-req").as_deref() == Some("1"));
                (url, r.field("client-ref"))
            },
            callback: |t| {
                (
                    "GET",
                    "",
                    format!(
                        "msisdn=15551234567&to=ACME&network-code=12345&messageId=0A0000000123ABCD1&price=0.03330000&status=delivered&scts=2001011400&err-code=0&api-key=k&client-ref={t}&message-timestamp=2020-01-01+12%3A00%3A00"
                    ),
                    String::new(),
                )
            },
            expect: (DeliveryState::Delivered, "delivered"),
        },
        Preset {
            kind: "plivo",
            entry: "auth_id = \"MA42\"\nauth_token = \"p\"\nfrom = \"+15550001111\"",
            answer: (202, r#"{"api_id":"db342550","message":"message(s) queued","message_uuid":["db3ce55a"]}"#),
            asked: |r| (json_str(r, "/url").filter(|_| json_str(r, "/method").as_deref() == Some("POST")), None),
            callback: |_| {
                ("POST", "application/x-www-form-urlencoded", String::new(), "MessageUUID=db3ce55a&To=15551234567&From=15550001111&Type=sms&Status=failed&ErrorCode=50&Units=1&MessageTime=2024-01-01+10%3A00%3A00".into())
            },
            expect: (DeliveryState::Failed, "50"),
        },
        Preset {
            kind: "messagebird",
            entry: "access_key = \"live\"\nfrom = \"ACME\"",
            answer: (201, r#"{"id":"e8077d803532c0b5937c639b60216938"}"#),
            asked: |r| (json_str(r, "/reportUrl"), json_str(r, "/reference")),
            callback: |t| {
                (
                    "GET",
                    "",
                    format!(
                        "id=e8077d803532c0b5937c639b60216938&reference={t}&recipient=15551234567&status=delivery_failed&statusDatetime=2024-01-01T10%3A00%3A00%2B00%3A00&statusErrorCode=104"
                    ),
                    String::new(),
                )
            },
            expect: (DeliveryState::Failed, "104"),
        },
        Preset {
            kind: "sinch",
            entry: "service_plan_id = \"plan7\"\napi_token = \"t\"\nfrom = \"+15550001111\"",
            answer: (201, r#"{"id":"01FC66621XXXXX119Z8PMV1QPQ","to":["15551234567"]}"#),
            asked: |r| {
                let url =
                    json_str(r, "/callback_url").filter(|_| json_str(r, "/delivery_report").as_deref() == Some("per_recipient_final"));
                (url, json_str(r, "/client_reference"))
            },
            callback: |t| {
                (
                    "POST",
                    "application/json",
                    String::new(),
                    format!(
                        r#"{{"type":"recipient_delivery_report_sms","batch_id":"01FC66621XXXXX119Z8PMV1QPQ","recipient":"15551234567","code":0,"status":"Delivered","at":"2024-01-01T10:00:00.000Z","operator_status_at":"2024-01-01T10:00:00Z","client_reference":"{t}"}}"#
                    ),
                )
            },
            expect: (DeliveryState::Delivered, "delivered"),
        },
        Preset {
            kind: "telnyx",
            entry: "api_key = \"KEY\"\nfrom = \"+15550001111\"",
            answer: (200, r#"{"data":{"id":"b0c7e8cb-6227-4c74-9f32-c7f80c30934b"}}"#),
            asked: |r| (json_str(r, "/webhook_url"), None),
            callback: |_| {
                ("POST", "application/json", String::new(), r#"{"data":{"event_type":"message.finalized","id":"4ee8c3a6","occurred_at":"2024-01-01T10:00:00Z","payload":{"id":"b0c7e8cb-6227-4c74-9f32-c7f80c30934b","to":[{"phone_number":"+15551234567","status":"delivery_failed"}],"errors":[{"code":"40002","title":"Blocked as spam","detail":"x"}],"completed_at":"2024-01-01T10:00:00Z"}},"meta":{"attempt":1,"delivered_to":"https://x"}}"#.into())
            },
            expect: (DeliveryState::Failed, "40002"),
        },
        Preset {
            kind: "infobip",
            entry: "api_key = \"ib\"\nfrom = \"ACME\"",
            answer: (
                200,
                r#"{"bulkId":"1","messages":[{"to":"15551234567","status":{"groupId":1,"groupName":"PENDING"},"messageId":"2250be2d"}]}"#,
            ),
            asked: |r| {
                let url = json_str(r, "/messages/0/notifyUrl")
                    .filter(|_| json_str(r, "/messages/0/notifyContentType").as_deref() == Some("application/json"));
                (url, json_str(r, "/messages/0/callbackData"))
            },
            callback: |t| {
                (
                    "POST",
                    "application/json",
                    String::new(),
                    format!(
                        r#"{{"results":[{{"bulkId":"1","messageId":"2250be2d","to":"15551234567","sentAt":"2024-01-01T10:00:00.000+0000","doneAt":"2024-01-01T10:00:01.000+0000","smsCount":1,"price":{{"pricePerMessage":0.01,"currency":"EUR"}},"status":{{"groupId":3,"groupName":"DELIVERED","id":5,"name":"DELIVERED_TO_HANDSET","description":"Message delivered to handset"}},"error":{{"groupId":0,"groupName":"OK","id":0,"name":"NO_ERROR","description":"No Error","permanent":false}},"callbackData":"{t}"}}]}}"#
                    ),
                )
            },
            expect: (DeliveryState::Delivered, "delivered.delivered_to_handset"),
        },
        Preset {
            kind: "clickatell",
            entry: "api_key = \"ck\"",
            answer: (202, r#"{"messages":[{"apiMessageId":"1d1aa5bd","accepted":true,"to":"15551234567"}],"error":null}"#),
            asked: |r| (None, json_str(r, "/messages/0/clientMessageId")),
            callback: |t| {
                (
                    "POST",
                    "application/json",
                    String::new(),
                    format!(
                        r#"{{"integrationId":"i1","integrationName":"pam","event":{{"messageStatusUpdate":[{{"channel":"sms","messageId":"1d1aa5bd","clientMessageId":"{t}","status":"DELIVERY_FAILURE","statusCode":23,"timestamp":1704103200000}}]}}}}"#
                    ),
                )
            },
            expect: (DeliveryState::Failed, "delivery_failure"),
        },
        Preset {
            kind: "bulksms",
            entry: "username = \"u\"\npassword = \"p\"",
            answer: (201, r#"[{"id":"1073741824","type":"SENT","status":{"id":"ACCEPTED.null","type":"ACCEPTED"}}]"#),
            asked: |r| (None, json_str(r, "/userSuppliedId").filter(|_| json_str(r, "/deliveryReports").as_deref() == Some("ALL"))),
            callback: |t| {
                (
                    "POST",
                    "application/json",
                    String::new(),
                    format!(
                        r#"[{{"id":"1073741824","type":"SENT","from":"","to":"+15551234567","body":null,"encoding":"TEXT","userSuppliedId":"{t}","submission":{{"id":"1-0000","date":"2024-01-01T10:00:00Z"}},"status":{{"id":"FAILED.BLOCKED","type":"FAILED","subtype":"BLOCKED"}}}}]"#
                    ),
                )
            },
            expect: (DeliveryState::Failed, "blocked"),
        },
        Preset {
            kind: "kannel",
            entry: "username = \"pam\"\npassword = \"k\"",
            answer: (202, "0: Accepted for delivery"),
            asked: |r| {
                let url = r.query("dlr-url").filter(|_| r.query("dlr-mask").as_deref() == Some("31"));
                (url.and_then(|u| u.strip_suffix("?type=%d&reply=%A").map(str::to_string)), None)
            },
            callback: |_| ("GET", "", "type=16&reply=NACK%2Ffailure%3A+unknown+subscriber".into(), String::new()),
            expect: (DeliveryState::Failed, "rejected_failure_unknown_subscriber"),
        },
    ]
}

/// A config with reports on, one connector of `preset` pointing at `gw`.
pub fn config(preset: &Preset, gw: &Gateway, reports_dir: &Path) -> Config {
    let toml = format!(
        "[delivery]\ncallback_url = \"{CALLBACK}\"\nreports_dir = {reports_dir:?}\n[[connector]]\nname = \"{}-gw\"\ntype = \"{}\"\nbase_url = \"{}\"\n{}\n",
        preset.kind,
        preset.kind,
        gw.url(""),
        preset.entry
    );
    let mut config = Config::parse(&toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
    config.delivery.secret = Some(DlrKey::new(KEY.as_bytes().to_vec()));
    config
}

pub fn answer(preset: &Preset) -> Mode {
    let (status, body) = preset.answer;
    if body.starts_with(['{', '[']) { Mode::json(status, body) } else { Mode::text(status, body) }
}

fn send(config: &Config) -> bool {
    let to = Phone::normalise(TO, "").unwrap();
    let sms = Sms { to: &to, text: "482913 is your code", code: "482913", seq: "AB", expires: 1_700_000_300, user: "alice" };
    Chain::from_config(config).send(&sms, Duration::from_secs(5), &MemoryLog::default()).is_ok()
}

#[test]
fn every_preset_asks_for_a_report_with_a_token_the_receiver_accepts() {
    for preset in presets() {
        let gw = Gateway::start(answer(&preset));
        let dir = tempfile::tempdir().unwrap();
        let config = config(&preset, &gw, dir.path());
        assert!(send(&config), "{}: not sent", preset.kind);
        let requests = gw.requests();
        let (url, echoed) = (preset.asked)(&requests[0]);
        let name = format!("{}-gw", preset.kind);
        // the token: at the end of the per-message URL, or as the echoed id
        let token = match (&url, &echoed) {
            (Some(url), _) => {
                let prefix = format!("{CALLBACK}/{name}/");
                assert!(url.starts_with(&prefix), "{}: report URL {url}", preset.kind);
                url[prefix.len()..].to_string()
            }
            (None, Some(id)) => id.clone(),
            (None, None) => panic!("{}: no report asked for in {:?}", preset.kind, requests[0]),
        };
        if let (Some(url), Some(echoed)) = (&url, &echoed) {
            assert!(url.ends_with(echoed.as_str()), "{}", preset.kind);
        }
        assert_eq!(token.len(), token::TOKEN_CHARS, "{}", preset.kind);
        let verified = token::verify(KEY.as_bytes(), &token, 1_700_000_000).unwrap_or_else(|e| panic!("{}: {e}", preset.kind));
        let sent = read_sent(dir.path(), &verified.id).unwrap().unwrap_or_else(|| panic!("{}: no sent record", preset.kind));
        assert_eq!(
            (sent.user.as_str(), sent.seq.as_str(), sent.connector.as_str(), sent.kind.as_str()),
            ("alice", "AB", name.as_str(), preset.kind)
        );
        assert_eq!(sent.to, "+*********67");
        assert!(!std::fs::read_to_string(dir.path().join(format!("{}.sent", sent.id))).unwrap().contains("5551234567"));
    }
}

#[test]
fn without_a_callback_url_nothing_is_asked_and_nothing_recorded() {
    for preset in presets() {
        let gw = Gateway::start(answer(&preset));
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(&preset, &gw, dir.path());
        config.delivery.callback_url.clear();
        assert!(send(&config), "{}", preset.kind);
        let (url, echoed) = (preset.asked)(&gw.requests()[0]);
        assert_eq!((url, echoed), (None, None), "{}", preset.kind);
        assert!(list(dir.path()).unwrap().is_empty());
    }
}

#[test]
fn the_http_connector_places_the_report_url_where_its_template_says() {
    let gw = Gateway::start(Mode::text(200, "OK"));
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[delivery]\ncallback_url = \"{CALLBACK}\"\nreports_dir = {:?}\n[[connector]]\nname = \"gw\"\ntype = \"http\"\nurl = \"{}/send?to={{{{to}}}}&text={{{{text}}}}&notify={{{{dlr_url}}}}\"\n",
        dir.path(),
        gw.url("")
    );
    let mut config = Config::parse(&toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
    config.delivery.secret = Some(DlrKey::new(KEY.as_bytes().to_vec()));
    assert!(send(&config));
    let notify = gw.requests()[0].query("notify").unwrap();
    let token = notify.strip_prefix(&format!("{CALLBACK}/gw/")).unwrap();
    let id = token::verify(KEY.as_bytes(), token, 0).unwrap().id;
    assert_eq!(read_sent(dir.path(), &id).unwrap().unwrap().kind, "http");
}

/// End to end for every preset: the request the provider fake saw carries the
/// report URL or id; the provider's documented callback, sent there, reaches a
/// real smsotp-dlrd and is recorded with the right state and reason; the same
/// callback with a forged token is refused and changes nothing.
#[test]
fn every_providers_report_reaches_smsotp_dlrd_and_is_recorded() {
    require!(Root);
    for preset in presets() {
        let gw = Gateway::start(answer(&preset));
        let dir = test_dir();
        let port = free_port();
        let name = format!("{}-gw", preset.kind);
        let config_path = dir.path().join("pam_smsotp.toml");
        write_private(
            &config_path,
            &format!(
                "{}[[connector]]\nname = \"{name}\"\ntype = \"{}\"\nbase_url = \"{}\"\n{}\n",
                delivery_section(dir.path(), port, ""),
                preset.kind,
                gw.url(""),
                preset.entry
            ),
        );
        let dlrd = Dlrd::start(&config_path, port);
        let config = Config::load(&config_path).unwrap_or_else(|e| panic!("{}: {e}", preset.kind));
        assert!(send(&config), "{}", preset.kind);
        let (url, echoed) = (preset.asked)(&gw.requests()[0]);
        let base = format!("http://127.0.0.1:{port}");
        let (path, token) = match (url, echoed) {
            (Some(url), _) => {
                let path = url.strip_prefix(&base).unwrap_or_else(|| panic!("{}: {url}", preset.kind)).to_string();
                let token = path.rsplit('/').next().unwrap().to_string();
                (path, token)
            }
            (None, Some(id)) => (format!("/r/{name}"), id),
            (None, None) => panic!("{}: no report asked for", preset.kind),
        };
        let deliver = |path: &str, token: &str| {
            let (method, content_type, query, body) = (preset.callback)(token);
            let target = if query.is_empty() { path.to_string() } else { format!("{path}?{query}") };
            if method == "GET" { dlrd.get(&target) } else { dlrd.post(&target, content_type, body.as_bytes()) }
        };
        let reports = dir.path().join("reports");

        // forged: another key's token, in the URL or in the body
        let forged =
            token::issue(b"not the daemon's key, 16+ bytes long", &pam_smsotp::dlr::MessageId::random().unwrap(), u64::from(u32::MAX));
        let forged_path = path.replace(&token, &forged);
        assert_eq!(deliver(&forged_path, &forged).0, 403, "{}: forged report", preset.kind);
        assert!(list(&reports).unwrap().iter().all(|(_, r)| r.is_none()), "{}", preset.kind);

        let (status, body) = deliver(&path, &token);
        assert_eq!(status, 200, "{}: {body} {}", preset.kind, dlrd.output());
        let id = token::verify(KEY.as_bytes(), &token, 0).unwrap().id;
        let report = read_report(&reports, &id).unwrap().unwrap_or_else(|| panic!("{}: nothing recorded", preset.kind));
        assert_eq!((report.state, report.reason.as_str()), preset.expect, "{}", preset.kind);
        assert_eq!((report.user.as_str(), report.seq.as_str(), report.connector.as_str()), ("alice", "AB", name.as_str()));
    }
}
