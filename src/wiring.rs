//! The wiring of one login: the configured adapters (directories, connectors,
//! the state store, the system clock and accounts) plugged into the flow.

use crate::auth::Store;
use crate::auth::{self, Deps, Login, Outcome, Prompter};
use crate::config::{Config, StateBackend, StoreFailurePolicy};
use crate::connector::Chain;
use crate::directory;
use crate::log::Log;
use crate::state::{FailedStore, FileStore, LocalFallback, RedisStore};
use crate::system::{NssAccounts, SystemClock};

/// Run one login with the real directories, connectors, clock and accounts.
pub fn run_login(config: &Config, login: &Login, prompter: &mut dyn Prompter, log: &dyn Log) -> Outcome {
    let mut store = open_store(config, log);
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

/// The configured store of record. Redis is contacted on the first call only;
/// with `on_failure = "degrade"` this host's files stand in while it fails.
fn open_store<'a>(config: &Config, log: &'a dyn Log) -> Box<dyn Store + 'a> {
    match config.state.backend {
        StateBackend::File => match FileStore::open(config) {
            Ok(s) => Box::new(s),
            Err(e) => Box::new(FailedStore(e)),
        },
        StateBackend::Redis => {
            let shared = RedisStore::new(config);
            match (config.state.on_failure, FileStore::open(config)) {
                (StoreFailurePolicy::Degrade, Ok(local)) => Box::new(LocalFallback::new(shared, local, log)),
                _ => Box::new(shared),
            }
        }
    }
}
