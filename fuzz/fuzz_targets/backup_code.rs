//! Backup codes: what a typed answer means as one, and the check of a stored hash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pam_smsotp::state::backup::{check_hash, normalise};

fuzz_target!(|text: &str| {
    if let Some(code) = normalise(text) {
        assert_eq!(code.len(), 8, "{:?}", code.as_str());
        assert!(code.bytes().all(|b| b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ".contains(&b)), "{:?}", code.as_str());
        assert_eq!(normalise(&code).as_deref(), Some(&*code));
    }
    let _ = check_hash(text);
});
