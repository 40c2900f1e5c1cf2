//! The config loader on any text, then validation and the printer of `smsotp check`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pam_smsotp::config::Config;

fuzz_target!(|text: &str| {
    let Ok(config) = Config::parse(text) else { return };
    assert!(config.validate().is_ok(), "a parsed config stays valid");
    let Ok(printed) = toml::to_string(&config) else { return };
    if let Err(e) = Config::parse(&printed) {
        panic!("smsotp check prints a config it would refuse: {e}\n{printed}");
    }
});
