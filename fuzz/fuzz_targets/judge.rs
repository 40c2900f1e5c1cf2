//! How a gateway's answer is judged, by the `http` connector and by every
//! provider preset. Input: one byte choosing the connector, two bytes of HTTP
//! status, then the body. Whatever the answer, what the module keeps of it (an
//! error text or a message id) holds neither the number, nor the text, nor a
//! control character.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use pam_smsotp::auth::Sms;
use pam_smsotp::config::{Config, ConnectorConfig};
use pam_smsotp::fuzzing::{Answer, judge};
use pam_smsotp::phone::Phone;

const CONNECTORS: &str = r#"
[[connector]]
name = "http-json"
type = "http"
url = "https://gw.example/send"
to_param = "to"
body_param = "text"
success_json = { pointer = "/messages/0/status", equals = "0" }
message_id = "/messages/0/message-id"
[[connector]]
name = "http-regex"
type = "http"
url = "https://gw.example/send"
to_param = "to"
body_param = "text"
success_regex = "^0: "
[[connector]]
name = "http-status"
type = "http"
url = "https://gw.example/send"
to_param = "to"
body_param = "text"
[[connector]]
type = "twilio"
account_sid = "AC123"
auth_token = "t"
from = "+15550001111"
[[connector]]
type = "vonage"
api_key = "k"
api_secret = "s"
from = "ACME"
[[connector]]
type = "plivo"
auth_id = "MA42"
auth_token = "t"
from = "+15550001111"
[[connector]]
type = "clickatell"
api_key = "k"
[[connector]]
type = "bulksms"
username = "u"
password = "p"
[[connector]]
type = "messagebird"
access_key = "k"
from = "ACME"
[[connector]]
type = "sinch"
service_plan_id = "plan7"
api_token = "t"
from = "+15550001111"
[[connector]]
type = "telnyx"
api_key = "k"
from = "+15550001111"
[[connector]]
type = "infobip"
base_url = "https://xyz.api.infobip.com"
api_key = "k"
from = "ACME"
[[connector]]
type = "kannel"
base_url = "http://127.0.0.1:13013"
username = "u"
password = "p"
"#;

static CONFIGS: LazyLock<Vec<ConnectorConfig>> =
    LazyLock::new(|| Config::parse(CONNECTORS).expect("the fuzz connectors are valid").connectors);
static TO: LazyLock<Phone> = LazyLock::new(|| Phone::normalise("+15551234567", "").expect("a valid number"));
const TEXT: &str = "482913 is your login code";

fuzz_target!(|data: &[u8]| {
    let [which, high, low, body @ ..] = data else { return };
    let config = &CONFIGS[usize::from(*which) % CONFIGS.len()];
    let answer = Answer { status: u16::from_be_bytes([*high, *low]), body: String::from_utf8_lossy(body).into_owned() };
    let sms = Sms { to: &TO, text: TEXT, code: "482913", seq: "AB", expires: 1_700_000_300, user: "alice" };
    let kept = match judge(config, &answer, &sms).expect("every fuzz connector judges answers") {
        Ok(delivery) => format!("{} {}", delivery.answer, delivery.message_id.unwrap_or_default()),
        Err(e) => e.to_string(),
    };
    for secret in ["15551234567", TEXT, "482913"] {
        assert!(!kept.contains(secret), "{kept:?} keeps {secret:?}");
    }
    assert!(!kept.chars().any(char::is_control), "{kept:?}");
});
