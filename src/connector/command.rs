//! `type = "command"`: run a program (no shell) with the number and text in its
//! environment, never on its command line; exit 0 means sent. The program runs
//! as the connector's `user` with nothing of the caller's (see sys::child).

use std::path::Path;
use std::time::Duration;

use super::{Connector, Delivery, DeliveryError, redact};
use crate::auth::Sms;
use crate::config::{CommandConfig, check_secure_file};
use crate::sys::child::{self, ChildEnd, ChildSpec, Identity};

/// Output kept for the log; more is read (so the program never stalls) and dropped.
const OUTPUT_CAP: usize = 4096;

pub struct CommandConnector {
    config: CommandConfig,
}

impl CommandConnector {
    pub fn new(config: CommandConfig) -> Self {
        CommandConnector { config }
    }
}

/// The program decides where codes go: it must be as trustworthy as a secret.
fn check_program(program: &str) -> Result<(), DeliveryError> {
    let path = Path::new(program);
    let file = std::fs::File::open(path).map_err(|e| DeliveryError::Local(format!("cannot open {program}: {e}")))?;
    check_secure_file(path, &file).map_err(|e| DeliveryError::Local(e.to_string()))
}

fn environment(sms: &Sms<'_>) -> Vec<(String, String)> {
    vec![
        ("SMSOTP_TO".into(), sms.to.e164().into()),
        ("SMSOTP_TEXT".into(), sms.text.into()),
        ("SMSOTP_CODE".into(), sms.code.into()),
        ("SMSOTP_SEQ".into(), sms.seq.into()),
        ("SMSOTP_EXPIRES".into(), sms.expires.to_string()),
        ("SMSOTP_USER".into(), sms.user.into()),
    ]
}

impl Connector for CommandConnector {
    fn deliver(&self, sms: &Sms<'_>, remaining: Duration) -> Result<Delivery, DeliveryError> {
        let argv = &self.config.argv;
        let program = argv.first().ok_or_else(|| DeliveryError::Local("argv is empty".into()))?;
        check_program(program)?;
        let identity = Identity::of(&self.config.user).map_err(|e| DeliveryError::Local(e.to_string()))?;
        let spec = ChildSpec {
            program: program.into(),
            args: argv[1..].to_vec(),
            env: environment(sms),
            identity,
            timeout: remaining.min(Duration::from_secs(self.config.timeout)),
            output_cap: OUTPUT_CAP,
        };
        let result = child::run(&spec).map_err(|e| DeliveryError::Local(e.to_string()))?;
        let said = redact(&String::from_utf8_lossy(&result.output), sms);
        match result.end {
            ChildEnd::TimedOut => Err(DeliveryError::Timeout),
            ChildEnd::Exited(status) if status.success() => Ok(Delivery { message_id: None, answer: format!("exit 0: {said}") }),
            ChildEnd::Exited(status) => Err(DeliveryError::Rejected(format!("{program} {}: {said}", child::describe(&status)))),
        }
    }
}
