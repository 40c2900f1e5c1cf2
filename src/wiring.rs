//! The wiring of one login: the configured adapters (directories, connectors,
//! the state store, the system clock and accounts) plugged into the flow.

use crate::auth::Store;
use crate::auth::{self, Deps, Login, Outcome, Prompter};
use crate::config::Config;
use crate::connector::Chain;
use crate::directory;
use crate::log::Log;
use crate::state::{FailedStore, FileStore};
use crate::system::{NssAccounts, SystemClock};

/// Run one login with the real directories, connectors, clock and accounts.
pub fn run_login(config: &Config, login: &Login, prompter: &mut dyn Prompter, log: &dyn Log) -> Outcome {
    let mut store: Box<dyn Store> = match FileStore::open(config) {
        Ok(s) => Box::new(s),
        Err(e) => Box::new(FailedStore(e)),
    };
    let directories = directory::build(config);
    let chain = Chain::from_config(config);
    auth::authenticate(
        config,
        login,
        Deps {
            prompter,
            directories: &directories,
            sender: &chain,
            store: store.as_mut(),
            clock: &SystemClock,
            accounts: &NssAccounts,
            log,
        },
    )
}
