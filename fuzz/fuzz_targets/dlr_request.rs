//! smsotp-dlrd's request head parser: any bytes from the network. It must never
//! panic, and whatever it accepts stays within its bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pam_smsotp::dlr::request::{MAX_BODY_BYTES, MAX_HEADERS, head_end, parse_head};

fuzz_target!(|bytes: &[u8]| {
    let _ = head_end(bytes);
    if let Ok(head) = parse_head(bytes) {
        assert!(bytes.len() <= 8 * 1024);
        assert!(head.headers.len() <= MAX_HEADERS);
        assert!(head.content_length <= MAX_BODY_BYTES);
        assert!(head.target.starts_with('/'));
        assert!(head.headers.iter().all(|(k, v)| !k.is_empty() && !v.contains(['\r', '\n', '\0'])));
        let _ = (head.path(), head.query());
    }
});
