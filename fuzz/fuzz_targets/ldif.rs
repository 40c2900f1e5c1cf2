//! The LDIF reader on any text: entries keep only the attributes asked for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pam_smsotp::directory::read_entries;

fuzz_target!(|text: &str| {
    let wanted = ["uid".to_string(), "mobile".to_string(), "telephonenumber".to_string()];
    read_entries(
        text,
        &wanted,
        |entry| {
            assert!(entry.line >= 1);
            assert!(entry.attrs.iter().all(|(name, _)| wanted.contains(name)), "{:?}", entry.attrs);
        },
        |line, _| assert!(line <= text.len() + 1),
    );
});
