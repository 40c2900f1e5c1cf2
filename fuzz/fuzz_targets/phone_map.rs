//! The phone map (`type = "file"`): its line parser through a lookup. The first
//! line of the input is the user looked up, the rest is the map file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pam_smsotp_fuzz::{Quiet, TempFile, assert_e164, directory, split_first_line};

fuzz_target!(|data: &[u8]| {
    let (user, map) = split_first_line(data);
    let file = TempFile::new("phone_map", map);
    let dir = directory("file", &file.path);
    if let Ok(Some(record)) = dir.lookup(user, std::time::Duration::from_secs(5), &Quiet) {
        assert_e164(record.phone.e164());
    }
});
