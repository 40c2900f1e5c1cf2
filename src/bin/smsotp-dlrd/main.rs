//! `smsotp-dlrd`: receives the delivery reports pam_smsotp asks its providers
//! for. Started as root, it reads the configuration and the token key, binds
//! `[delivery] listen`, drops to `[delivery] user` and serves; a report is
//! recorded only with a valid, unexpired token for a message that was sent.

mod event;
mod handle;
mod server;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use pam_smsotp::config::{Config, DEFAULT_CONFIG_PATH};
use pam_smsotp::log::printable;
use pam_smsotp::sys::child::Identity;
use pam_smsotp::sys::{privileges, syslog};

#[derive(Parser)]
#[command(name = "smsotp-dlrd", version, about = "Receive SMS delivery reports for pam_smsotp")]
struct Cli {
    /// The configuration file.
    #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
    config: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    syslog::open(c"smsotp-dlrd", libc::LOG_AUTHPRIV);
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            let message = printable(&message);
            syslog::line(libc::LOG_ERR, &message);
            eprintln!("smsotp-dlrd: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    let config = Config::load(&cli.config).map_err(|e| e.to_string())?;
    let delivery = &config.delivery;
    if !delivery.enabled() {
        return Err(format!("{}: [delivery] callback_url is empty: reports are off", cli.config.display()));
    }
    let key = delivery.secret.clone().ok_or_else(|| "the token key was not read".to_string())?;
    let identity = Identity::of(&delivery.user).map_err(|e| format!("[delivery] user: {e}"))?;
    let listener = TcpListener::bind(&delivery.listen).map_err(|e| format!("cannot listen on {}: {e}", delivery.listen))?;
    if nix::unistd::geteuid().is_root() {
        privileges::drop_to(&identity).map_err(|e| format!("cannot drop to {}: {e}", delivery.user))?;
    }
    let receiver = handle::Receiver::new(&config, key);
    syslog::line(libc::LOG_INFO, &format!("listening on {} as {}", delivery.listen, delivery.user));
    server::serve(listener, &receiver);
    Ok(())
}
