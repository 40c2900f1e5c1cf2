//! Wires the configured adapters into the login flow; shared by the PAM entry
//! point and the `smsotp` command.

use crate::auth::{self, Deps, Login, Outcome, Prompter};
use crate::config::Config;
use crate::connector::Chain;
use crate::directory;
use crate::log::Log;
use crate::state::FileStore;
use crate::system::{NssAccounts, SystemClock};

/// Run one login with the real directories, connectors, clock and accounts.
pub fn run_login(config: &Config, login: &Login, prompter: &mut dyn Prompter, log: &dyn Log) -> Outcome {
    let mut store = match FileStore::open(config) {
        Ok(s) => s,
        Err(e) => {
            log.error(&format!("user {}: {e}", login.user));
            return Outcome::ServiceError(e.to_string());
        }
    };
    let directories = directory::build(config);
    let chain = Chain::from_config(config);
    auth::authenticate(
        config,
        login,
        Deps { prompter, directories: &directories, sender: &chain, store: &mut store, clock: &SystemClock, accounts: &NssAccounts, log },
    )
}
