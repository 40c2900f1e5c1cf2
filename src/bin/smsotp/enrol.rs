//! `smsotp enrol issue|status|revoke`: one-time enrolment codes, redeemed at a
//! login with `[policy] unenrolled = "enrol"`. Only the argon2id hash is kept.

use pam_smsotp::auth::EnrolCode;
use pam_smsotp::config::Config;
use pam_smsotp::state::enrol_code;

use crate::phone::{admin_name, now, numbers};
use crate::state::canonical;
use crate::{Done, Failed};

/// The shortest and longest `--ttl`.
pub const TTL_RANGE: std::ops::RangeInclusive<u64> = 60..=90 * 86_400;

pub fn issue(config: &Config, user: &str, ttl: Option<u64>) -> Done {
    let user = &canonical(user);
    let ttl = ttl.unwrap_or(config.enrol.code_ttl);
    if !TTL_RANGE.contains(&ttl) {
        return Err(Failed::Error(format!("--ttl must be within {}..={} seconds", TTL_RANGE.start(), TTL_RANGE.end())));
    }
    let code = enrol_code::generate()?;
    let now = now();
    let stored = EnrolCode { hash: enrol_code::hash(&code)?, expires: now + ttl, issued_at: now, by: admin_name() };
    numbers(config)?.set_enrol_code(user, Some(&stored))?;
    println!("Enrolment code for {user} (works once, for {ttl} s; any earlier code no longer works):\n");
    println!("  {}\n", code.as_str());
    println!("Hand it over in person or by another channel than the user's mail: at their next login,");
    println!("without a number, {user} is asked for it, then for a mobile number, then for the SMS code.");
    Ok(())
}

pub fn status(config: &Config, user: &str) -> Done {
    let user = &canonical(user);
    match numbers(config)?.numbers(user)?.enrol_code {
        Some(c) if c.expires > now() => println!("{user}: an enrolment code is pending, expires in {} s", c.expires - now()),
        Some(_) => println!("{user}: the enrolment code has expired"),
        None => println!("{user}: no enrolment code"),
    }
    Ok(())
}

pub fn revoke(config: &Config, user: &str) -> Done {
    let user = &canonical(user);
    numbers(config)?.set_enrol_code(user, None)?;
    println!("{user}: enrolment code revoked");
    Ok(())
}
