//! `smsotp`: the administrator's command for pam_smsotp.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use pam_smsotp::auth::{Directory, Sms};
use pam_smsotp::config::{Config, DEFAULT_CONFIG_PATH, DirectoryConfig, redacted_url};
use pam_smsotp::connector::Chain;
use pam_smsotp::directory::FileDirectory;
use pam_smsotp::log::{Log, StderrLog};
use pam_smsotp::message::{self, Encoding};
use pam_smsotp::phone::Phone;
use pam_smsotp::{directory, system};

/// Exit codes: 0 all good, 1 the check or the action failed, 2 usage error.
#[derive(Parser)]
#[command(name = "smsotp", version, about = "Administer pam_smsotp, the SMS one-time password PAM module")]
struct Cli {
    /// The configuration file.
    #[arg(long, global = true, default_value = DEFAULT_CONFIG_PATH)]
    config: PathBuf,
    /// Say more about what is done.
    #[arg(long, short, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate the configuration, print it with secrets redacted, and say what the SMS text costs.
    Check,
    /// Send a test SMS through the connectors (in order, or one with --connector).
    SendTest {
        /// Send to this number.
        #[arg(long, conflicts_with = "user", required_unless_present = "user")]
        to: Option<String>,
        /// Send to this user's number from the directories.
        #[arg(long)]
        user: Option<String>,
        /// Only this connector (its name, or type#N as `check` lists it).
        #[arg(long)]
        connector: Option<String>,
    },
    /// Show where a user's number comes from, masked.
    Lookup { user: String },
    /// Show a user's failures, lock, recent sends and backup codes left.
    Status { user: String },
    /// Lift a user's lockout and forget the counted failures.
    Unlock { user: String },
    /// Make, count or revoke a user's single-use backup codes.
    #[command(subcommand)]
    BackupCodes(BackupCodes),
}

#[derive(Subcommand)]
enum BackupCodes {
    /// Print fresh codes once and keep only their hashes (replaces any earlier set).
    Generate {
        user: String,
        /// How many codes.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=50))]
        count: u32,
    },
    /// How many unused codes the user has.
    Status { user: String },
    /// Remove all of the user's codes.
    Revoke { user: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log = StderrLog { verbose: cli.verbose };
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("smsotp: {e}");
            return ExitCode::from(1);
        }
    };
    let ok = match cli.command {
        Command::Check => check(&cli.config, &config),
        Command::SendTest { to, user, connector } => send_test(&config, to, user, connector, &log),
        Command::Lookup { user } => lookup(&config, &user, &log),
        Command::Status { user } => state::status(&config, &user),
        Command::Unlock { user } => state::unlock(&config, &user),
        Command::BackupCodes(BackupCodes::Generate { user, count }) => state::generate(&config, &user, count),
        Command::BackupCodes(BackupCodes::Status { user }) => state::backup_status(&config, &user),
        Command::BackupCodes(BackupCodes::Revoke { user }) => state::revoke(&config, &user),
    };
    if ok { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// The subcommands over per-user state.
mod state {
    use std::time::{SystemTime, UNIX_EPOCH};

    use pam_smsotp::auth::Accounts;
    use pam_smsotp::auth::StoreError;
    use pam_smsotp::config::Config;
    use pam_smsotp::state::{FileStore, UserState, backup};
    use pam_smsotp::system::NssAccounts;

    fn store(config: &Config) -> Option<FileStore> {
        match FileStore::open(config) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("smsotp: {e}");
                None
            }
        }
    }

    fn now() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
    }

    /// The name the module keys the user's state by: the name service's spelling.
    pub fn canonical(user: &str) -> String {
        match NssAccounts.canonical_name(user) {
            Ok(Some(name)) => name,
            _ => user.to_string(),
        }
    }

    fn failed(e: StoreError) -> bool {
        eprintln!("smsotp: {e}");
        false
    }

    pub fn status(config: &Config, user: &str) -> bool {
        let user = &canonical(user);
        let Some(store) = store(config) else { return false };
        let state = match store.read(user, now()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("smsotp: {e}\nsmsotp: `smsotp unlock {user}` starts the user's state afresh");
                return false;
            }
        };
        let now = now();
        println!("user: {user}");
        println!("failures in the last {} s: {}", config.limits.lockout_window, state.failures_in_window(now, &config.limits));
        match state.locked_until(now) {
            Some(t) => println!("locked: yes, for another {} s", t - now),
            None => println!("locked: no"),
        }
        println!("codes sent in the last hour: {} of {}", state.sends_in_last_hour(now), config.limits.max_sends_per_hour);
        println!("backup codes left: {}", state.backup_codes.len());
        true
    }

    pub fn unlock(config: &Config, user: &str) -> bool {
        let user = &canonical(user);
        let Some(store) = store(config) else { return false };
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
        match result {
            Ok(()) => {
                println!("{user}: unlocked");
                true
            }
            Err(e) => failed(e),
        }
    }

    pub fn generate(config: &Config, user: &str, count: u32) -> bool {
        let user = &canonical(user);
        let Some(store) = store(config) else { return false };
        let mut codes = Vec::new();
        let mut hashes = Vec::new();
        for _ in 0..count {
            let made = backup::generate().and_then(|c| backup::hash(&c).map(|h| (c, h)));
            match made {
                Ok((code, hash)) => {
                    codes.push(code);
                    hashes.push(hash);
                }
                Err(e) => {
                    eprintln!("smsotp: {e}");
                    return false;
                }
            }
        }
        if let Err(e) = store.update(user, now(), |s| s.backup_codes = hashes) {
            return failed(e);
        }
        println!("Backup codes for {user}; each works once, in place of an SMS code.");
        println!("They are shown only now: print them or store them safely. Earlier codes no longer work.\n");
        for (i, code) in codes.iter().enumerate() {
            println!("  {:>2}.  {}", i + 1, code.as_str());
        }
        true
    }

    pub fn backup_status(config: &Config, user: &str) -> bool {
        let user = &canonical(user);
        let Some(store) = store(config) else { return false };
        match store.read(user, now()) {
            Ok(s) => {
                println!("{user}: {} backup codes left", s.backup_codes.len());
                true
            }
            Err(e) => failed(e),
        }
    }

    pub fn revoke(config: &Config, user: &str) -> bool {
        let user = &canonical(user);
        let Some(store) = store(config) else { return false };
        match store.update(user, now(), |s| s.backup_codes.clear()) {
            Ok(()) => {
                println!("{user}: backup codes revoked");
                true
            }
            Err(e) => failed(e),
        }
    }
}

fn check(path: &std::path::Path, config: &Config) -> bool {
    let mut ok = true;
    println!("# {}: valid", path.display());
    match toml::to_string(config) {
        Ok(text) => println!("# effective configuration (secrets redacted)\n{text}"),
        Err(e) => println!("# (cannot print the configuration: {e})"),
    }
    let sample = sample_message(config);
    let cost = message::sms_cost(&sample);
    println!("# message: \"{}\"", sample.replace('\n', "\\n"));
    println!(
        "# message: {} encoding, {} {}, {} SMS part(s)",
        cost.encoding,
        cost.units,
        if cost.encoding == Encoding::Gsm7 { "septets" } else { "UTF-16 units" },
        cost.parts
    );
    if let Some(c) = cost.first_non_gsm {
        println!("warning: {c:?} is not in the GSM-7 alphabet, so the message goes as UCS-2 (70 characters per SMS)");
    }
    if cost.parts > 1 {
        println!("warning: the message needs {} SMS parts; providers bill each part", cost.parts);
    }
    for (i, d) in config.directories.iter().enumerate() {
        match d {
            DirectoryConfig::File(f) => match FileDirectory::new(f.path.clone(), config.phone.default_country_code.clone()).entries() {
                Ok((entries, malformed)) => {
                    println!("# directory[{i}] file {}: {} entries, {malformed} malformed", f.path.display(), entries.len());
                    let allowed = &config.phone.allowed_prefixes;
                    for e in entries.iter().filter(|e| e.number.as_ref().is_ok_and(|p| !p.has_prefix_in(allowed))) {
                        println!(
                            "warning: directory[{i}] {} line {}: {}'s number is outside [phone] allowed_prefixes: no SMS would be sent",
                            f.path.display(),
                            e.line,
                            e.user
                        );
                    }
                }
                Err(e) => {
                    println!("error: directory[{i}]: {e}");
                    ok = false;
                }
            },
            DirectoryConfig::Ldif(l) => match pam_smsotp::config::read_secure_file(&l.path) {
                Ok(text) => {
                    let (mut entries, mut bad) = (0, 0);
                    pam_smsotp::directory::read_entries(
                        &text,
                        &[],
                        |_| entries += 1,
                        |line, why| {
                            bad += 1;
                            println!("warning: directory[{i}] {} line {line}: {why}", l.path.display());
                        },
                    );
                    println!("# directory[{i}] ldif {}: {entries} entries, {bad} malformed", l.path.display());
                }
                Err(e) => {
                    println!("error: directory[{i}]: {e}");
                    ok = false;
                }
            },
            DirectoryConfig::Ldap(l) => {
                let url = redacted_url(&l.url);
                let dir = pam_smsotp::directory::LdapDirectory::new(l, String::new());
                match dir.connect(std::time::Duration::from_secs(l.timeout)) {
                    Ok(mut conn) => {
                        let _ = conn.unbind();
                        match &l.bind_dn {
                            Some(dn) => println!("# directory[{i}] ldap {url}: bind as {dn} works"),
                            None => println!("# directory[{i}] ldap {url}: reachable (anonymous)"),
                        }
                    }
                    Err(problem) => {
                        println!("error: directory[{i}] ldap {url}: {problem}");
                        ok = false;
                    }
                }
            }
        }
    }
    for (i, c) in config.connectors.iter().enumerate() {
        println!("# connector[{i}] {} ({})", c.display_name(i), c.kind());
    }
    match pam_smsotp::state::FileStore::open(config) {
        Ok(_) => println!("# state: {} is usable", config.state.dir.display()),
        Err(e) => {
            println!("error: {e}");
            ok = false;
        }
    }
    if config.connectors_defaulted {
        println!("warning: no [[connector]] is configured: codes are only written to the spool file");
    }
    ok
}

fn sample_message(config: &Config) -> String {
    let host = system::hostname();
    let code = "8".repeat(config.otp.length as usize);
    let values =
        message::MessageValues { code: &code, user: "username", host: &host, service: "sshd", ttl_seconds: config.otp.ttl, seq: "AB" };
    message::render_message(&config.message.template, &values)
}

fn find_phone(config: &Config, user: &str, log: &dyn Log) -> Option<(Phone, String, Option<String>)> {
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

fn lookup(config: &Config, user: &str, log: &dyn Log) -> bool {
    match find_phone(config, user, log) {
        Some((phone, source, dn)) => {
            println!("{user}: {} from {source}", phone.masked());
            if let Some(dn) = dn {
                println!("{user}: entry {dn}");
            }
            if !phone.has_prefix_in(&config.phone.allowed_prefixes) {
                println!("warning: {user}: the number is outside [phone] allowed_prefixes: no SMS would be sent");
            }
            true
        }
        None => {
            println!("{user}: no number found");
            false
        }
    }
}

fn send_test(config: &Config, to: Option<String>, user: Option<String>, only: Option<String>, log: &dyn Log) -> bool {
    let phone = match (to, user) {
        (Some(raw), _) => match Phone::normalise(&raw, &config.phone.default_country_code) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("smsotp: --to: {e}");
                return false;
            }
        },
        (None, Some(user)) => match find_phone(config, &user, log) {
            Some((p, source, _)) => {
                println!("{user}: {} from {source}", p.masked());
                p
            }
            None => {
                println!("{user}: no number found");
                return false;
            }
        },
        (None, None) => return false,
    };
    let text = format!("pam_smsotp test message from {}", system::hostname());
    let sms = Sms { to: &phone, text: &text, code: "", seq: "", expires: 0, user: "" };
    let chain = Chain::from_config(config);
    let selected: Vec<_> = chain.connectors.iter().filter(|n| only.as_ref().is_none_or(|o| &n.name == o)).collect();
    if selected.is_empty() {
        eprintln!("smsotp: no connector named {:?}", only.unwrap_or_default());
        return false;
    }
    let budget = Duration::from_secs(config.limits.login_budget);
    for named in selected {
        match Chain::try_one(named, &sms, budget) {
            Ok(d) => {
                let id = d.message_id.map(|id| format!(", message id {id}")).unwrap_or_default();
                println!("{}: sent to {} ({}{id})", named.name, phone.masked(), d.answer);
                return true;
            }
            Err(e) => println!("{}: failed: {e}", named.name),
        }
    }
    false
}
