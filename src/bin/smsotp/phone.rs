//! `smsotp phone set|show|remove|list|accept` and the numbers part of
//! `smsotp status`: the enrolled number and the pin (the last verified number)
//! of a user, on the configured backend; writes go as `[state.redis]
//! admin_username` on Redis.

use std::io::{BufRead, Read, Write};
use std::time::Duration;

use pam_smsotp::auth::{Clock, NumberVia, Numbers, SendAllowance, Sender, Sms, Store, StoredNumber};
use pam_smsotp::config::{Config, StateBackend};
use pam_smsotp::connector::Chain;
use pam_smsotp::log::Log;
use pam_smsotp::message::{self, MessageValues};
use pam_smsotp::otp::Code;
use pam_smsotp::phone::Phone;
use pam_smsotp::state::{FileNumbers, FileStore, RedisStore};
use pam_smsotp::system::{self, SystemClock};
use zeroize::Zeroizing;

use crate::lookup::find_phone;
use crate::state::canonical;
use crate::{Done, Failed};

/// The numbers store as smsotp uses it (Redis: the admin ACL user when set).
pub fn numbers(config: &Config) -> Result<Box<dyn Numbers>, Failed> {
    Ok(match config.state.backend {
        StateBackend::File => Box::new(FileNumbers::open(config)?),
        StateBackend::Redis => Box::new(RedisStore::admin(config)?),
    })
}

/// Who is doing this, for the record: the user sudo ran us for, else root.
pub fn admin_name() -> String {
    std::env::var("SUDO_USER")
        .ok()
        .filter(|u| !u.is_empty() && u.len() < 64 && u.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or_else(|| "root".into())
}

pub fn now() -> u64 {
    SystemClock.now().as_secs()
}

fn describe(n: &StoredNumber) -> String {
    let masked = n.phone().map(|p| p.masked()).unwrap_or_else(|| "(not a valid number)".into());
    let verified = if n.verified { "verified" } else { "not verified" };
    format!("{masked} ({verified}, via {:?} by {}, at {})", n.via, pam_smsotp::log::printable(&n.by), n.at)
}

pub struct SetArgs {
    pub user: String,
    pub number: String,
    pub verify: bool,
}

pub fn set(config: &Config, args: SetArgs, log: &dyn Log) -> Done {
    let user = &canonical(&args.user);
    let phone =
        Phone::normalise(&args.number, &config.phone.default_country_code).map_err(|e| Failed::Error(format!("the number: {e}")))?;
    if !phone.has_prefix_in(&config.phone.allowed_prefixes) {
        return Err(Failed::Error(format!("{} is outside [phone] allowed_prefixes; not stored", phone.masked())));
    }
    let mut store = numbers(config)?;
    if args.verify {
        verify(config, user, &phone, log)?;
    }
    let number = StoredNumber { phone: phone.e164().into(), at: now(), via: NumberVia::Admin, verified: args.verify, by: admin_name() };
    store.set_enrolled(user, Some(&number))?;
    if args.verify {
        // a number verified by its owner is the one later numbers are compared with
        store.set_pinned(user, Some(&number))?;
    }
    let how = if args.verify { "verified" } else { "not verified" };
    println!("{user}: {} registered ({how})", phone.masked());
    let pinned = store.numbers(user)?.pinned;
    if !args.verify && pinned.is_some_and(|p| p.phone != number.phone) {
        println!(
            "note: {user}'s pinned (last verified) number is another one; it is pinned after the next successful login{}",
            if config.phone.on_change == pam_smsotp::config::OnNumberChange::Deny {
                ", but on_change = \"deny\" refuses that login: use --verify, or `smsotp phone accept` once the number is confirmed"
            } else {
                ""
            }
        );
    }
    Ok(())
}

/// Send a code to `phone` within the user's send limits and ask for it on stdin.
fn verify(config: &Config, user: &str, phone: &Phone, log: &dyn Log) -> Done {
    let clock = SystemClock;
    let mut limits: Box<dyn Store> = match config.state.backend {
        StateBackend::File => Box::new(FileStore::open(config)?),
        StateBackend::Redis => Box::new(RedisStore::admin(config)?),
    };
    match limits.reserve_send(user, clock.now())? {
        SendAllowance::Allowed => {}
        other => return Err(Failed::Error(format!("no code can be sent to {user} now ({other:?}); nothing stored"))),
    }
    let otp = &config.otp;
    let code = Code::generate(otp.length, otp.charset, clock.monotonic(), Duration::from_secs(otp.ttl))
        .map_err(|e| Failed::Error(e.to_string()))?;
    let host = system::hostname();
    let values =
        MessageValues { code: code.expose(), user, host: &host, service: "smsotp-phone-set", ttl_seconds: otp.ttl, seq: &code.seq };
    let text = Zeroizing::new(message::render_message(&config.message.template, &values));
    let expires = clock.now().saturating_add(Duration::from_secs(otp.ttl)).as_secs();
    let sms = Sms { to: phone, text: &text, code: code.expose(), seq: &code.seq, expires, user };
    let receipt = Chain::from_config(config)
        .send(&sms, Duration::from_secs(config.limits.login_budget), log)
        .map_err(|_| Failed::Error("every connector failed; nothing stored".into()))?;
    println!("Code sent to {} via {} (tag {}). Ask {user} to read it to you.", phone.masked(), receipt.connector, code.seq);
    print!("Code: ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().take(256).read_line(&mut line);
    let answer = Zeroizing::new(line);
    if code.is_expired(clock.monotonic()) {
        return Err(Failed::Error("the code expired; nothing stored".into()));
    }
    if !code.matches(answer.trim()) {
        return Err(Failed::Error("wrong code; nothing stored".into()));
    }
    Ok(())
}

pub fn show(config: &Config, user: &str, log: &dyn Log) -> Done {
    let user = &canonical(user);
    let stored = numbers(config)?.numbers(user)?;
    match &stored.enrolled {
        Some(n) => println!("{user}: enrolled {}", describe(n)),
        None => println!("{user}: no enrolled number"),
    }
    pin_lines(config, user, &stored.pinned, log);
    Ok(())
}

/// The pin and whether the directories agree with it (also for `smsotp status`).
fn pin_lines(config: &Config, user: &str, pinned: &Option<StoredNumber>, log: &dyn Log) {
    match pinned {
        Some(n) => println!("{user}: pinned {}", describe(n)),
        None => println!("{user}: no pinned number (the next verified number is pinned)"),
    }
    let now = find_phone_quietly(config, user, log);
    match (now, pinned) {
        (None, _) => println!("{user}: the directories have no number"),
        (Some((phone, source)), Some(pin)) if pin.phone == phone.e164() => {
            println!("{user}: the directories agree: {} from {source}", phone.masked())
        }
        (Some((phone, source)), Some(_)) => println!(
            "{user}: the directories DIFFER: {} from {source}; [phone] on_change = {:?}{}",
            phone.masked(),
            config.phone.on_change,
            if config.phone.on_change == pam_smsotp::config::OnNumberChange::Deny {
                ": logins are refused until `smsotp phone accept`"
            } else {
                ""
            }
        ),
        (Some((phone, source)), None) => println!("{user}: the directories give {} from {source}", phone.masked()),
    }
}

fn find_phone_quietly(config: &Config, user: &str, log: &dyn Log) -> Option<(Phone, String)> {
    find_phone(config, user, log).map(|(p, s, _)| (p, s))
}

pub fn status(config: &Config, user: &str, log: &dyn Log) -> Done {
    let user = &canonical(user);
    let stored = numbers(config)?.numbers(user)?;
    pin_lines(config, user, &stored.pinned, log);
    Ok(())
}

pub fn remove(config: &Config, user: &str) -> Done {
    let user = &canonical(user);
    let mut store = numbers(config)?;
    if store.numbers(user)?.enrolled.is_none() {
        println!("{user}: no enrolled number");
        return Err(Failed::Said);
    }
    store.set_enrolled(user, None)?;
    println!("{user}: enrolled number removed (the pin stays; `smsotp phone accept` moves it)");
    Ok(())
}

pub fn list(config: &Config) -> Done {
    let listing = match config.state.backend {
        StateBackend::File => FileNumbers::open(config)?.list()?,
        StateBackend::Redis => RedisStore::admin(config)?.list_numbers()?,
    };
    let mut bad = false;
    for (user, numbers) in listing {
        let user = pam_smsotp::log::printable(&user);
        match numbers {
            Ok(n) => {
                if let Some(e) = n.enrolled {
                    println!("{user}\t{}", describe(&e));
                }
            }
            Err(why) => {
                bad = true;
                println!("{user}\tunreadable: {}", pam_smsotp::log::printable(&why));
            }
        }
    }
    if bad { Err(Failed::Said) } else { Ok(()) }
}

/// Pin the number the directories give now (ends an `on_change = "deny"` refusal).
pub fn accept(config: &Config, user: &str, log: &dyn Log) -> Done {
    let user = &canonical(user);
    let Some((phone, source)) = find_phone_quietly(config, user, log) else {
        println!("{user}: the directories have no number; nothing pinned");
        return Err(Failed::Said);
    };
    let number = StoredNumber { phone: phone.e164().into(), at: now(), via: NumberVia::Accept, verified: false, by: admin_name() };
    numbers(config)?.set_pinned(user, Some(&number))?;
    println!("{user}: {} from {source} pinned", phone.masked());
    Ok(())
}
