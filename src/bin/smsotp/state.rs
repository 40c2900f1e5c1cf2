//! The commands over per-user state: status, unlock, backup codes, on the
//! configured backend (the state directory, or Redis for the fleet), and the
//! migration of a host's files into Redis.

use pam_smsotp::audit::{self, AdminAction};
use pam_smsotp::auth::{Accounts, Clock, StoreError};
use pam_smsotp::config::{Config, StateBackend};
use pam_smsotp::state::{FileStore, RedisStore, UserState, backup};
use pam_smsotp::system::{NssAccounts, SystemClock};

use crate::{Done, Failed};

fn redis(config: &Config) -> Option<RedisStore> {
    (config.state.backend == StateBackend::Redis).then(|| RedisStore::new(config))
}

/// The shared store as `[state.redis] admin_username`, for what creates codes.
fn redis_admin(config: &Config) -> Result<Option<RedisStore>, Failed> {
    if config.state.backend != StateBackend::Redis {
        return Ok(None);
    }
    Ok(Some(RedisStore::admin(config)?))
}

fn backend_line(r: &RedisStore) -> String {
    format!("backend: redis ({})", r.server_name().unwrap_or_default())
}

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

/// Log the `event=admin` line of an action that changes state (see
/// `pam_smsotp::audit`), whether it worked or not, and pass its result on.
pub fn audited(action: AdminAction, user: &str, extra: &[(&str, &str)], done: Done) -> Done {
    audit::log_admin(action, user, done.is_ok(), extra);
    done
}

pub fn status(config: &Config, user: &str) -> Done {
    let user = &canonical(user);
    if let Some(mut r) = redis(config) {
        let st = r.status(user)?;
        println!("user: {user}");
        println!("{}", backend_line(&r));
        println!("failures in the last {} s: {}", config.limits.lockout_window, st.failures_in_window);
        match st.locked_for {
            Some(left) => println!("locked: yes, for another {} s", left.as_secs_f64().ceil() as u64),
            None => println!("locked: no"),
        }
        println!("codes sent in the last hour: {} of {}", st.sends_in_last_hour, config.limits.max_sends_per_hour);
        println!("backup codes left: {}", st.backup_codes);
        return Ok(());
    }
    let store = store(config)?;
    let state = store
        .read(user, now())
        .map_err(|e| Failed::Error(format!("{e}\nsmsotp: `smsotp unlock {user}` starts the user's state afresh")))?;
    let now = now();
    println!("user: {user}");
    println!("backend: file ({})", config.state.dir.display());
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
    audited(AdminAction::Unlock, user, &[], unlock_user(config, user))
}

fn unlock_user(config: &Config, user: &str) -> Done {
    if let Some(mut r) = redis(config) {
        r.unlock(user)?;
        println!("{user}: unlocked on every host ({})", backend_line(&r));
        return Ok(());
    }
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
    audited(AdminAction::BackupCodesGenerate, user, &[("count", &count.to_string())], generate_codes(config, user, count))
}

fn generate_codes(config: &Config, user: &str, count: u32) -> Done {
    let mut codes = Vec::new();
    let mut hashes = Vec::new();
    for _ in 0..count {
        let code = backup::generate().map_err(Failed::from)?;
        hashes.push(backup::hash(&code).map_err(Failed::from)?);
        codes.push(code);
    }
    match redis_admin(config)? {
        Some(mut r) => {
            r.set_backup_codes(user, &hashes)?;
        }
        None => store(config)?.update(user, now(), |s| s.backup_codes = hashes)?,
    }
    println!("Backup codes for {user}; each works once, in place of an SMS code.");
    println!("They are shown only now: print them or store them safely. Earlier codes no longer work.\n");
    for (i, code) in codes.iter().enumerate() {
        println!("  {:>2}.  {}", i + 1, code.as_str());
    }
    Ok(())
}

pub fn backup_status(config: &Config, user: &str) -> Done {
    let user = &canonical(user);
    if let Some(mut r) = redis(config) {
        println!("{user}: {} backup codes left", r.backup_count(user)?);
        return Ok(());
    }
    let state = store(config)?.read(user, now())?;
    println!("{user}: {} backup codes left", state.backup_codes.len());
    Ok(())
}

pub fn revoke(config: &Config, user: &str) -> Done {
    let user = &canonical(user);
    audited(AdminAction::BackupCodesRevoke, user, &[], revoke_codes(config, user))
}

fn revoke_codes(config: &Config, user: &str) -> Done {
    if let Some(mut r) = redis(config) {
        r.revoke_backup_codes(user)?;
        println!("{user}: backup codes revoked on every host");
        return Ok(());
    }
    store(config)?.update(user, now(), |s| s.backup_codes.clear())?;
    println!("{user}: backup codes revoked");
    Ok(())
}

/// `smsotp state migrate`: copy this host's state files into the Redis store.
/// Safe to repeat: nothing is lowered or shortened, and backup codes are only
/// copied for users who never had codes issued or migrated in Redis.
pub fn migrate(config: &Config) -> Done {
    audited(AdminAction::StateMigrate, "*", &[], migrate_files(config))
}

fn migrate_files(config: &Config) -> Done {
    let Some(mut r) = redis_admin(config)? else {
        return Err(Failed::Error("[state] backend is not \"redis\": there is nothing to migrate to".into()));
    };
    let dir = &config.state.dir;
    // the directory is checked as the module checks it
    FileStore::open(config)?;
    let entries = std::fs::read_dir(dir).map_err(|e| Failed::Error(format!("{}: {e}", dir.display())))?;
    let (mut copied, mut skipped) = (0, 0);
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // a user's stem has no '.' (escaped): u-alice.numbers.json is not a state file
        let Some(stem) = name.strip_suffix(".json").filter(|s| (s.starts_with("u-") || s.starts_with("h-")) && !s.contains('.')) else {
            continue;
        };
        let state = std::fs::read(entry.path())
            .map_err(|e| e.to_string())
            .and_then(|b| pam_smsotp::state::decode(&b).map_err(|e| format!("{e:?}")));
        match state {
            Ok(state) => {
                r.migrate(stem, &state)?;
                copied += 1;
            }
            Err(why) => {
                eprintln!("smsotp: {name}: skipped, unreadable: {}", pam_smsotp::log::printable(&why));
                skipped += 1;
            }
        }
    }
    println!("{copied} users copied into {}, {skipped} skipped", backend_line(&r));
    if skipped > 0 { Err(Failed::Said) } else { Ok(()) }
}
