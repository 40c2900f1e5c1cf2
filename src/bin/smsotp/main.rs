//! `smsotp`: the administrator's command for pam_smsotp.

mod check;
mod deliveries;
mod enrol;
mod lookup;
mod phone;
mod report;
mod send;
mod state;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use pam_smsotp::audit::AdminAction;
use pam_smsotp::config::{Config, DEFAULT_CONFIG_PATH};
use pam_smsotp::log::{StderrLog, printable};

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
        /// Send this text instead of the configured [message] template with a test code.
        #[arg(long)]
        text: Option<String>,
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
    /// The state store itself.
    #[command(subcommand)]
    State(StateCommand),
    /// List recent delivery reports across users, and demoted connectors.
    Deliveries {
        /// Only messages sent in the last this many seconds.
        #[arg(long, default_value_t = 86_400)]
        since: u64,
        /// Only the messages reported failed.
        #[arg(long)]
        failed: bool,
    },
    /// A summary to paste into a ticket: users locked now, users at their send cap,
    /// SMS per connector in the last hour and day, backup codes running low.
    Report,
    /// A user's enrolled number and pin (the last verified number).
    #[command(subcommand)]
    Phone(PhoneCommand),
    /// One-time enrolment codes for users without a number.
    #[command(subcommand)]
    Enrol(EnrolCommand),
}

#[derive(Subcommand)]
enum PhoneCommand {
    /// Store a number for the user in the enrolled numbers (normalised, inside [phone] allowed_prefixes).
    Set {
        user: String,
        number: String,
        /// Send a code to the number and store it only when the code typed back on stdin matches.
        #[arg(long)]
        verify: bool,
    },
    /// The user's enrolled and pinned numbers (masked), and what the directories give now.
    Show { user: String },
    /// Forget the user's enrolled number.
    Remove { user: String },
    /// Every user with an enrolled number.
    List,
    /// Pin the number the directories give now (ends an on_change = "deny" refusal).
    Accept { user: String },
}

#[derive(Subcommand)]
enum EnrolCommand {
    /// Print a one-time enrolment code for the user (replaces any earlier one).
    Issue {
        user: String,
        /// Seconds the code works (default: [enrol] code_ttl).
        #[arg(long)]
        ttl: Option<u64>,
    },
    /// Whether the user has a pending code.
    Status { user: String },
    /// Drop the user's code.
    Revoke { user: String },
}

#[derive(Subcommand)]
enum StateCommand {
    /// Copy this host's state files ([state] dir) into the Redis store (safe to repeat).
    Migrate,
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

/// Why a command did not succeed (exit status 1).
#[derive(Debug)]
pub enum Failed {
    /// The command has already said what went wrong on standard output.
    Said,
    /// To be said on standard error.
    Error(String),
}

impl<E: std::error::Error> From<E> for Failed {
    fn from(e: E) -> Failed {
        Failed::Error(e.to_string())
    }
}

/// What every command returns.
pub type Done = Result<(), Failed>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log = StderrLog { verbose: cli.verbose };
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("smsotp: {}", printable(&e.to_string()));
            return ExitCode::from(1);
        }
    };
    let done = match cli.command {
        Command::Check => check::check(&cli.config, &config),
        Command::SendTest { to, user, connector, text } => send::send_test(&config, send::SendTest { to, user, connector, text }, &log),
        Command::Lookup { user } => lookup::lookup(&config, &user, &log),
        Command::Status { user } => state::status(&config, &user)
            .and_then(|()| deliveries::last_codes(&config, &state::canonical(&user)))
            .and_then(|()| phone::status(&config, &user, &log)),
        Command::Unlock { user } => state::unlock(&config, &user),
        Command::BackupCodes(BackupCodes::Generate { user, count }) => state::generate(&config, &user, count),
        Command::BackupCodes(BackupCodes::Status { user }) => state::backup_status(&config, &user),
        Command::BackupCodes(BackupCodes::Revoke { user }) => state::revoke(&config, &user),
        Command::State(StateCommand::Migrate) => state::migrate(&config),
        Command::Deliveries { since, failed } => deliveries::deliveries(&config, since, failed),
        Command::Phone(PhoneCommand::Set { user, number, verify }) => {
            let who = state::canonical(&user);
            let done = phone::set(&config, phone::SetArgs { user, number, verify }, &log);
            state::audited(AdminAction::PhoneSet, &who, &[("verify", if verify { "yes" } else { "no" })], done)
        }
        Command::Phone(PhoneCommand::Show { user }) => phone::show(&config, &user, &log),
        Command::Phone(PhoneCommand::Remove { user }) => {
            state::audited(AdminAction::PhoneRemove, &state::canonical(&user), &[], phone::remove(&config, &user))
        }
        Command::Phone(PhoneCommand::List) => phone::list(&config),
        Command::Phone(PhoneCommand::Accept { user }) => {
            state::audited(AdminAction::PhoneAccept, &state::canonical(&user), &[], phone::accept(&config, &user, &log))
        }
        Command::Enrol(EnrolCommand::Issue { user, ttl }) => {
            state::audited(AdminAction::EnrolIssue, &state::canonical(&user), &[], enrol::issue(&config, &user, ttl))
        }
        Command::Enrol(EnrolCommand::Status { user }) => enrol::status(&config, &user),
        Command::Enrol(EnrolCommand::Revoke { user }) => {
            state::audited(AdminAction::EnrolRevoke, &state::canonical(&user), &[], enrol::revoke(&config, &user))
        }
        Command::Report => report::report(&config),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failed::Said) => ExitCode::from(1),
        Err(Failed::Error(why)) => {
            eprintln!("smsotp: {}", printable(&why));
            ExitCode::from(1)
        }
    }
}
