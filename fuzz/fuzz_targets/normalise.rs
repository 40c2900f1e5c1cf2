//! Number normalisation. The first line of the input is the default country
//! code (any text: the type does not check it), the rest the number.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pam_smsotp::phone::Phone;
use pam_smsotp_fuzz::assert_e164;

fuzz_target!(|text: &str| {
    let (country_code, raw) = text.split_once('\n').unwrap_or(("", text));
    if let Ok(phone) = Phone::normalise(raw, country_code) {
        assert_e164(phone.e164());
        assert_eq!(phone.masked().chars().count(), phone.e164().len());
        assert!(phone.masked().ends_with(&phone.e164()[phone.e164().len() - 2..]));
    }
});
