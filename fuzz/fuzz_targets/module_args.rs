//! Module arguments from the pam.d line, NUL-separated as libpam hands them over.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pam_smsotp::pam::{ArgError, parse_args};

fuzz_target!(|data: &[u8]| {
    match parse_args(data.split(|&b| b == 0)) {
        Ok(args) => assert!(args.config.is_absolute()),
        Err(ArgError::Unknown(arg)) => assert!(arg.chars().count() <= 64),
        Err(_) => {}
    }
});
