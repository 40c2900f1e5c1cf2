//! `smsotp lookup`: where a user's number comes from, masked.

use std::time::Duration;

use pam_smsotp::auth::Directory;
use pam_smsotp::config::Config;
use pam_smsotp::directory;
use pam_smsotp::log::Log;
use pam_smsotp::phone::Phone;

use crate::{Done, Failed};

pub fn find_phone(config: &Config, user: &str, log: &dyn Log) -> Option<(Phone, String, Option<String>)> {
    let budget = Duration::from_secs(config.limits.login_budget);
    let dirs: Vec<Box<dyn Directory>> = directory::build(config);
    for d in &dirs {
        match d.lookup(user, budget, log) {
            Ok(Some(r)) => return Some((r.phone, r.source, r.dn)),
            Ok(None) => println!("{}: no entry for {user}", d.describe()),
            Err(e) => println!("{e}"),
        }
    }
    None
}

pub fn lookup(config: &Config, user: &str, log: &dyn Log) -> Done {
    match find_phone(config, user, log) {
        Some((phone, source, dn)) => {
            println!("{user}: {} from {source}", phone.masked());
            if let Some(dn) = dn {
                println!("{user}: entry {dn}");
            }
            if !phone.has_prefix_in(&config.phone.allowed_prefixes) {
                println!("warning: {user}: the number is outside [phone] allowed_prefixes: no SMS would be sent");
            }
            Ok(())
        }
        None => {
            println!("{user}: no number found");
            Err(Failed::Said)
        }
    }
}
