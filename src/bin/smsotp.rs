//! `smsotp`: the administrator's command for pam_smsotp.
#![deny(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use pam_smsotp::auth::{Directory, Sms};
use pam_smsotp::config::{Config, DirectoryConfig, DEFAULT_CONFIG_PATH};
use pam_smsotp::connector::Chain;
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
    Lookup {
        user: String,
    },
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
    };
    if ok { ExitCode::SUCCESS } else { ExitCode::from(1) }
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
    println!("# message: {} encoding, {} {}, {} SMS part(s)", cost.encoding, cost.units,
        if cost.encoding == Encoding::Gsm7 { "septets" } else { "UTF-16 units" }, cost.parts);
    if let Some(c) = cost.first_non_gsm {
        println!("warning: {c:?} is not in the GSM-7 alphabet, so the message goes as UCS-2 (70 characters per SMS)");
    }
    if cost.parts > 1 {
        println!("warning: the message needs {} SMS parts; providers bill each part", cost.parts);
    }
    for (i, d) in config.directories.iter().enumerate() {
        match d {
            DirectoryConfig::File(f) => match pam_smsotp::config::read_secure_file(&f.path) {
                Ok(text) => {
                    let entries = text.lines().filter(|l| !l.split('#').next().unwrap_or("").trim().is_empty()).count();
                    println!("# directory[{i}] file {}: {entries} entries", f.path.display());
                }
                Err(e) => {
                    println!("error: directory[{i}]: {e}");
                    ok = false;
                }
            },
            other => println!("warning: directory[{i}] type {} is not supported by this build", other.kind()),
        }
    }
    for (i, c) in config.connectors.iter().enumerate() {
        println!("# connector[{i}] {} ({})", c.display_name(i), c.kind());
    }
    if config.connectors_defaulted {
        println!("warning: no [[connector]] is configured: codes are only written to the spool file");
    }
    ok
}

fn sample_message(config: &Config) -> String {
    let host = system::hostname();
    let ttl_minutes = config.otp.ttl.div_ceil(60).to_string();
    let code = "8".repeat(config.otp.length as usize);
    message::render(&config.message.template, |name| match name {
        "code" => code.clone(),
        "user" => "username".into(),
        "host" => host.clone(),
        "service" => "sshd".into(),
        "ttl_minutes" => ttl_minutes.clone(),
        "seq" => "AB".into(),
        _ => String::new(),
    })
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
    let sms = Sms { to: &phone, text: &text, code: "" };
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
