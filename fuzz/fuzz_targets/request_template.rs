//! Request templates of the `http` connector and their escaping. The input is
//! "template NUL to NUL text NUL from"; every value must come back unchanged
//! out of a JSON body and out of a percent-encoded URL.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pam_smsotp::fuzzing::{Values, fill_json, fill_percent};

fuzz_target!(|input: &str| {
    let mut parts = input.split('\0');
    let template = parts.next().unwrap_or("");
    let values = Values { to: parts.next().unwrap_or(""), text: parts.next().unwrap_or(""), from: parts.next().unwrap_or(""), dlr_url: parts.next().unwrap_or("") };
    let _ = fill_json(template, &values);
    let _ = fill_percent(template, &values);

    let body = fill_json(r#"{"to":{{to}},"text":"{{text}}","from":"a \"{{from}}\""}"#, &values);
    let doc: serde_json::Value = serde_json::from_str(&body).expect("a JSON body");
    assert_eq!(doc["to"], values.to);
    assert_eq!(doc["text"], values.text);
    assert_eq!(doc["from"], format!("a \"{}\"", values.from));

    let query = fill_percent("to={{to}}&text={{text}}", &values);
    let mut pairs = query.split('&');
    for (pair, value) in pairs.by_ref().zip([values.to, values.text]) {
        let encoded = pair.split_once('=').map(|(_, v)| v).unwrap_or("");
        assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)), "{encoded}");
        assert_eq!(percent_encoding::percent_decode_str(encoded).decode_utf8().expect("UTF-8"), value);
    }
    assert!(pairs.next().is_none());
});
