//! `smsotp check`: validate the configuration, print it without secrets, say
//! what the SMS costs, and warn of what would lock everyone out or reach nobody.

use std::path::Path;

use pam_smsotp::config::{Config, ConnectorConfig, DirectoryConfig, UnenrolledPolicy, redacted_url};
use pam_smsotp::directory::{FileDirectory, Found};
use pam_smsotp::message::{self, Encoding};
use pam_smsotp::system;

use crate::{Done, Failed};

pub fn check(path: &Path, config: &Config) -> Done {
    let mut ok = true;
    // numbers the directories hold, when that can be counted (not for LDAP)
    let mut numbers: Option<usize> = Some(0);
    println!("# {}: valid", path.display());
    match toml::to_string(config) {
        Ok(text) => println!("# effective configuration (secrets redacted)\n{text}"),
        Err(e) => println!("# (cannot print the configuration: {e})"),
    }
    print_messages(config);
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
                    numbers = numbers.map(|n| n + entries.iter().filter(|e| e.number.is_ok()).count());
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
            DirectoryConfig::Ldif(l) => match pam_smsotp::config::read_secure_bytes(&l.path) {
                Ok(bytes) => {
                    // read as a login reads it: a line in another encoding costs its entry only
                    let (mut entries, mut bad) = (0, 0);
                    pam_smsotp::directory::read_entry_bytes(&bytes, &[], |found| match found {
                        Found::Entry(_) => entries += 1,
                        Found::Malformed { entry, why } => {
                            bad += 1;
                            println!("warning: directory[{i}] {} line {}: {why}", l.path.display(), entry.line);
                        }
                        Found::Warning { line, why } => println!("warning: directory[{i}] {} line {line}: {why}", l.path.display()),
                    });
                    println!("# directory[{i}] ldif {}: {entries} entries, {bad} malformed", l.path.display());
                    // an entry may hold no number: count it as one, never warn wrongly
                    numbers = numbers.map(|n| n + entries);
                }
                Err(e) => {
                    println!("error: directory[{i}]: {e}");
                    ok = false;
                }
            },
            DirectoryConfig::Ldap(l) => {
                numbers = None;
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
            DirectoryConfig::Enrolled(_) => {
                // what `smsotp phone set` and enrolment add is not counted here
                numbers = None;
                println!("# directory[{i}] enrolled: numbers kept in the state store (smsotp phone list)");
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
    if config.state.backend == pam_smsotp::config::StateBackend::Redis {
        ok &= check_redis(config);
    }
    if config.connectors_defaulted {
        println!("warning: no [[connector]] is configured: codes are only written to the spool file");
    } else if config.connectors.iter().all(|c| matches!(c, ConnectorConfig::Spool(_))) {
        println!("warning: only spool connectors are configured: codes are written to a file and no SMS reaches anyone");
    }
    if numbers == Some(0) && config.policy.unenrolled == UnenrolledPolicy::Deny {
        println!(
            "warning: no directory holds any number and [policy] unenrolled = \"deny\": every login through the module would be refused"
        );
    }
    if let Some(kind) = system::network_file_system(&config.state.dir) {
        println!(
            "warning: the state directory {} is on {kind}: file locks are not reliable there, so limits and backup codes could be \
             lost between hosts; keep [state] dir on a local file system",
            config.state.dir.display()
        );
    }
    if ok { Ok(()) } else { Err(Failed::Said) }
}

/// The SMS text as a login would send it, with a code of the configured length.
pub fn sample_message(config: &Config) -> String {
    let host = system::hostname();
    let code = "8".repeat(config.otp.length as usize);
    let values =
        message::MessageValues { code: &code, user: "username", host: &host, service: "sshd", ttl_seconds: config.otp.ttl, seq: "AB" };
    message::render_message(&config.message.template, &values)
}

/// Connect as the module does, report the server, and run every script on a check key.
fn check_redis(config: &Config) -> bool {
    let mut store = pam_smsotp::state::RedisStore::new(config);
    let facts = match store.server_facts() {
        Ok(f) => f,
        Err(e) => {
            println!("error: state.redis: {e}");
            return false;
        }
    };
    let unknown = || "unknown (the ACL user may not run INFO)".to_string();
    println!("# state: redis {} is a primary, version {}", facts.server, facts.version.clone().unwrap_or_else(unknown));
    let mut ok = true;
    match facts.aof_enabled {
        Some(true) => println!("# state: redis appendonly yes"),
        Some(false) => println!("warning: redis appendonly is off: a crash of the server can bring used backup codes back and lift locks"),
        None => println!("# state: redis appendonly: {}", unknown()),
    }
    match facts.maxmemory_policy.as_deref() {
        Some("noeviction") => println!("# state: redis maxmemory-policy noeviction"),
        Some(p) => println!("warning: redis maxmemory-policy {p} may evict locks and counters; use noeviction"),
        None => println!("# state: redis maxmemory-policy: {}", unknown()),
    }
    match store.self_test() {
        Ok(()) => println!("# state: redis: every script ran as the module's user"),
        Err(e) => {
            println!("error: state.redis: a script failed: {e}");
            ok = false;
        }
    }
    ok
}

/// The texts users will see, after `[messages] include` and the defaults.
fn print_messages(config: &Config) {
    match &config.messages.include {
        Some(path) => println!("# messages: the texts users see (from {} and the configuration)", path.display()),
        None => println!("# messages: the texts users see"),
    }
    for (key, text) in config.messages.effective(&config.otp.prompt) {
        println!("#   {key} = {text:?}");
    }
}
