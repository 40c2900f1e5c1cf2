//! Delivery reports, the sending side: with `[delivery] callback_url` set, each
//! preset asks its provider for a report the way the provider documents, with a
//! per-message token the receiver accepts, and a sent record the receiver reads.

mod common;

use std::path::Path;
use std::time::Duration;

use common::gateway::{Gateway, Mode, Request};
use pam_smsotp::auth::{Sender, Sms};
use pam_smsotp::config::{Config, DlrKey};
use pam_smsotp::connector::Chain;
use pam_smsotp::dlr::record::{list, read_sent};
use pam_smsotp::dlr::token;
use pam_smsotp::log::MemoryLog;
use pam_smsotp::phone::Phone;

const TO: &str = "+15551234567";
const KEY: &[u8] = b"a test key of more than sixteen bytes";
const CALLBACK: &str = "https://dlr.example.org/r";

/// One provider: its connector entry (base_url filled in), a success answer, and
/// where its report URL and token must be in the request.
pub struct Preset {
    pub kind: &'static str,
    pub entry: &'static str,
    pub answer: (u16, &'static str),
    /// (report URL, token) as the provider's request carries them.
    pub asked: fn(&Request) -> (Option<String>, Option<String>),
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
        },
        Preset {
            kind: "vonage",
            entry: "api_key = \"k\"\napi_secret = \"s\"\nfrom = \"ACME\"",
            answer: (200, r#"{"message-count":"1","messages":[{"to":"15551234567","message-id":"0A0000000123ABCD1","status":"0"}]}"#),
            asked: |r| {
                let url = r.field("callback").filter(|_| r.field("status-report-req").as_deref() == Some("1"));
                (url, r.field("client-ref"))
            },
        },
        Preset {
            kind: "plivo",
            entry: "auth_id = \"MA42\"\nauth_token = \"p\"\nfrom = \"+15550001111\"",
            answer: (202, r#"{"api_id":"db342550","message":"message(s) queued","message_uuid":["db3ce55a"]}"#),
            asked: |r| (json_str(r, "/url").filter(|_| json_str(r, "/method").as_deref() == Some("POST")), None),
        },
        Preset {
            kind: "messagebird",
            entry: "access_key = \"live\"\nfrom = \"ACME\"",
            answer: (201, r#"{"id":"e8077d803532c0b5937c639b60216938"}"#),
            asked: |r| (json_str(r, "/reportUrl"), json_str(r, "/reference")),
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
        },
        Preset {
            kind: "telnyx",
            entry: "api_key = \"KEY\"\nfrom = \"+15550001111\"",
            answer: (200, r#"{"data":{"id":"b0c7e8cb-6227-4c74-9f32-c7f80c30934b"}}"#),
            asked: |r| (json_str(r, "/webhook_url"), None),
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
        },
        Preset {
            kind: "clickatell",
            entry: "api_key = \"ck\"",
            answer: (202, r#"{"messages":[{"apiMessageId":"1d1aa5bd","accepted":true,"to":"15551234567"}],"error":null}"#),
            asked: |r| (None, json_str(r, "/messages/0/clientMessageId")),
        },
        Preset {
            kind: "bulksms",
            entry: "username = \"u\"\npassword = \"p\"",
            answer: (201, r#"[{"id":"1073741824","type":"SENT","status":{"id":"ACCEPTED.null","type":"ACCEPTED"}}]"#),
            asked: |r| (None, json_str(r, "/userSuppliedId").filter(|_| json_str(r, "/deliveryReports").as_deref() == Some("ALL"))),
        },
        Preset {
            kind: "kannel",
            entry: "username = \"pam\"\npassword = \"k\"",
            answer: (202, "0: Accepted for delivery"),
            asked: |r| {
                let url = r.query("dlr-url").filter(|_| r.query("dlr-mask").as_deref() == Some("31"));
                (url.and_then(|u| u.strip_suffix("?type=%d&reply=%A").map(str::to_string)), None)
            },
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
    config.delivery.secret = Some(DlrKey::new(KEY.to_vec()));
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
        let verified = token::verify(KEY, &token, 1_700_000_000).unwrap_or_else(|e| panic!("{}: {e}", preset.kind));
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
    config.delivery.secret = Some(DlrKey::new(KEY.to_vec()));
    assert!(send(&config));
    let notify = gw.requests()[0].query("notify").unwrap();
    let token = notify.strip_prefix(&format!("{CALLBACK}/gw/")).unwrap();
    let id = token::verify(KEY, token, 0).unwrap().id;
    assert_eq!(read_sent(dir.path(), &id).unwrap().unwrap().kind, "http");
}
