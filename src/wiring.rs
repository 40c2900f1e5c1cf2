//! The wiring of one login: the configured adapters (directories, connectors,
//! the state store, the system clock and accounts) plugged into the flow.

use crate::auth::Store;
use crate::auth::{self, Deps, Login, NumberDeps, Outcome, Prompter};
use crate::config::{Config, StateBackend, StoreFailurePolicy};
use crate::connector::Chain;
use crate::directory;
use crate::log::Log;
use crate::notify::CommandNotifier;
use crate::state::{FailedStore, FileStore, LocalFallback, RedisStore, SharedNumbers};
use crate::system::{NssAccounts, SystemClock};

/// Run one login with the real directories, connectors, clock and accounts.
pub fn run_login(config: &Config, login: &Login, prompter: &mut dyn Prompter, log: &dyn Log) -> Outcome {
    let mut store = open_store(config, log);
    // one numbers store for the `enrolled` directory and the flow (pins, enrolment)
    let numbers = SharedNumbers::new(crate::state::numbers::open(config));
    let directories = directory::build_with(config, &numbers);
    let mut chain = Chain::from_config(config);
    chain.delivery = crate::state::delivery::StoredDeliveryLog::from_config(config).map(|d| Box::new(d) as Box<dyn auth::DeliveryLog>);
    let notifier = CommandNotifier { argv: config.phone.notify_command.clone() };
    auth::authenticate_with_numbers(
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
        NumberDeps { numbers: &mut numbers.clone(), notifier: &notifier },
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
