//! The commands over per-user state: status, unlock, backup codes.

use pam_smsotp::auth::{Accounts, Clock, StoreError};
use pam_smsotp::config::Config;
use pam_smsotp::state::{FileStore, UserState, backup};
use pam_smsotp::system::{NssAccounts, SystemClock};

use crate::{Done, Failed};

fn store(config: &Config) -> Result<FileStore, Failed> {
    FileStore::open(config).map_err(Failed::from)
}

fn now() -> u64 {
    SystemClock.now().as_secs()
}

/// The name the module keys the user's state by: the name service's spelling.
pub fn canonical(user: &str) -> String {
    match NssAccounts.canonical_name(user) {
        Ok(Some(name)) => name,
        _ => user.to_string(),
    }
}

pub fn status(config: &Config, user: &str) -> Done {
    let user = &canonical(user);
    let store = store(config)?;
    let state = store
        .read(user, now())
        .map_err(|e| Failed::Error(format!("{e}\nsmsotp: `smsotp unlock {user}` starts the user's state afresh")))?;
    let now = now();
    println!("user: {user}");
    println!("failures in the last {} s: {}", config.limits.lockout_window, state.failures_in_window(now, &config.limits));
    match state.locked_until(now) {
        Some(t) => println!("locked: yes, for another {} s", t - now),
        None => println!("locked: no"),
    }
    println!("codes sent in the last hour: {} of {}", state.sends_in_last_hour(now), config.limits.max_sends_per_hour);
    println!("backup codes left: {}", state.backup_codes.len());
    Ok(())
}

pub fn unlock(config: &Config, user: &str) -> Done {
    let user = &canonical(user);
    let store = store(config)?;
    let result = match store.update(user, now(), |s| s.unlock()) {
        Ok(()) => Ok(()),
        // a state file that cannot be read starts afresh, keeping the backup
        // codes that can still be trusted
        Err(StoreError::Corrupt(why)) => store.salvage_backup_codes(user).and_then(|backup_codes| {
            eprintln!(
                "smsotp: the old state was unreadable ({why}); starting afresh with the {} backup codes that could be kept",
                backup_codes.len()
            );
            store.reset(user, &UserState { backup_codes, ..UserState::default() })
        }),
        Err(e) => Err(e),
    };
    result?;
    println!("{user}: unlocked");
    Ok(())
}

pub fn generate(config: &Config, user: &str, count: u32) -> Done {
    let user = &canonical(user);
    let store = store(config)?;
    let mut codes = Vec::new();
    let mut hashes = Vec::new();
    for _ in 0..count {
        let code = backup::generate().map_err(Failed::from)?;
        hashes.push(backup::hash(&code).map_err(Failed::from)?);
        codes.push(code);
    }
    store.update(user, now(), |s| s.backup_codes = hashes)?;
    println!("Backup codes for {user}; each works once, in place of an SMS code.");
    println!("They are shown only now: print them or store them safely. Earlier codes no longer work.\n");
    for (i, code) in codes.iter().enumerate() {
        println!("  {:>2}.  {}", i + 1, code.as_str());
    }
    Ok(())
}

pub fn backup_status(config: &Config, user: &str) -> Done {
    let user = &canonical(user);
    let state = store(config)?.read(user, now())?;
    println!("{user}: {} backup codes left", state.backup_codes.len());
    Ok(())
}

pub fn revoke(config: &Config, user: &str) -> Done {
    let user = &canonical(user);
    store(config)?.update(user, now(), |s| s.backup_codes.clear())?;
    println!("{user}: backup codes revoked");
    Ok(())
}
