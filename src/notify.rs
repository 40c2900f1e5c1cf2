//! `[phone] notify_command`: told when a user's number changed (on_change =
//! "notify"). Run like the command connector's program (see sys::child): as
//! root, no shell, an empty environment but for SMSOTP_USER and the masked
//! numbers, within the login's budget; a failure is logged and changes nothing.

use std::path::Path;
use std::time::Duration;

use crate::auth::ChangeNotifier;
use crate::config::check_secure_file;
use crate::log::{Log, printable};
use crate::sys::child::{self, ChildEnd, ChildSpec, Identity};

/// Output kept for the log.
const OUTPUT_CAP: usize = 2048;
/// The longest a notification may take, whatever the login has left.
const MAX_TIME: Duration = Duration::from_secs(10);

pub struct CommandNotifier {
    pub argv: Vec<String>,
}

impl CommandNotifier {
    fn run(&self, user: &str, old: &str, new: &str, remaining: Duration) -> Result<String, String> {
        let Some(program) = self.argv.first() else { return Ok("no notify_command".into()) };
        let file = std::fs::File::open(program).map_err(|e| format!("cannot open {program}: {e}"))?;
        check_secure_file(Path::new(program), &file).map_err(|e| e.to_string())?;
        let identity = Identity::of("root").map_err(|e| e.to_string())?;
        let spec = ChildSpec {
            program: program.into(),
            args: self.argv[1..].to_vec(),
            env: vec![("SMSOTP_USER".into(), user.into()), ("SMSOTP_OLD".into(), old.into()), ("SMSOTP_NEW".into(), new.into())],
            identity,
            timeout: remaining.min(MAX_TIME),
            output_cap: OUTPUT_CAP,
        };
        let result = child::run(&spec).map_err(|e| e.to_string())?;
        let said = printable(&String::from_utf8_lossy(&result.output));
        match result.end {
            ChildEnd::TimedOut => Err(format!("{program} timed out")),
            ChildEnd::Exited(status) if status.success() => Ok(said),
            ChildEnd::Exited(status) => Err(format!("{program} {}: {said}", child::describe(&status))),
        }
    }
}

impl ChangeNotifier for CommandNotifier {
    fn number_changed(&self, user: &str, old: &str, new: &str, remaining: Duration, log: &dyn Log) {
        if self.argv.is_empty() {
            return;
        }
        match self.run(user, old, new, remaining) {
            Ok(_) => log.info(&format!("user {user}: notify_command told of the number change")),
            Err(why) => log.error(&format!("user {user}: notify_command failed: {why}")),
        }
    }
}
