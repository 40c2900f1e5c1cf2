//! A numbers file (enrolled, pinned, enrolment code) on any bytes, and an
//! answer typed at the enrolment code prompt.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pam_smsotp::fuzzing::{decode_numbers, encode_numbers};
use pam_smsotp::state::enrol_code::normalise;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(numbers) = decode_numbers(bytes) {
        assert_eq!(decode_numbers(&encode_numbers(&numbers)).as_ref(), Ok(&numbers), "a numbers file survives a round trip");
        for n in numbers.enrolled.iter().chain(&numbers.pinned) {
            if let Some(phone) = n.phone() {
                assert_eq!(phone.e164(), n.phone);
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(bytes)
        && let Some(code) = normalise(text)
    {
        assert_eq!(code.len(), 16, "{:?}", code.as_str());
        assert!(code.bytes().all(|b| b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ".contains(&b)), "{:?}", code.as_str());
        assert_eq!(normalise(&code).as_deref(), Some(&*code));
    }
});
