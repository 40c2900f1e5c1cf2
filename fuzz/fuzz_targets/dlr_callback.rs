//! Provider callbacks as smsotp-dlrd reads them: "kind NUL query NUL body",
//! for every connector type. Never a panic; every reason and status word is
//! one safe word (what goes into the log line and the report file).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pam_smsotp::dlr::callback::{Callback, interpret};

const KINDS: &[&str] =
    &["kannel", "twilio", "vonage", "plivo", "messagebird", "sinch", "telnyx", "infobip", "clickatell", "bulksms", "http", "spool"];

fuzz_target!(|input: &[u8]| {
    let Some((&selector, rest)) = input.split_first() else { return };
    let kind = KINDS[usize::from(selector) % KINDS.len()];
    let mut parts = rest.splitn(2, |b| *b == 0);
    let query = String::from_utf8_lossy(parts.next().unwrap_or(b""));
    let body = parts.next().unwrap_or(b"");
    for content_type in [None, Some("application/x-www-form-urlencoded"), Some("application/json")] {
        for url_token in [None, Some("AAAAAAAAAAAAAAAAAAAA")] {
            if let Ok(reports) = interpret(kind, &Callback { query: &query, content_type, body, url_token }) {
                for r in reports {
                    for w in [&r.reason, &r.provider_status] {
                        assert!(w.len() <= 64, "{w}");
                        assert!(w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)), "{w}");
                    }
                }
            }
        }
    }
});
