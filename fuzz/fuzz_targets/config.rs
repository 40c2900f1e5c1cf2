//! The config loader on any text, then validation and the printer of `smsotp check`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pam_smsotp::config::Config;

fuzz_target!(|text: &str| {
    let Ok(config) = Config::parse(text) else { return };
    assert!(config.validate().is_ok(), "a parsed config stays valid");
    let Ok(printed) = toml::to_string(&config) else { return };
    // what `smsotp check` prints is TOML again (with secrets and templates
    // redacted, so it need not be a working config)
    if let Err(e) = printed.parse::<toml::Table>() {
        panic!("smsotp check prints what is not TOML: {e}\n{printed}");
    }
});
