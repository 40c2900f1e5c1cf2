//! `type = "command"`: run a program (no shell) with the number and text in its
//! environment, never on its command line; exit 0 means sent.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Connector, Delivery, DeliveryError, redact};
use crate::auth::Sms;
use crate::config::CommandConfig;

const SAFE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub struct CommandConnector {
    config: CommandConfig,
}

impl CommandConnector {
    pub fn new(config: CommandConfig) -> Self {
        CommandConnector { config }
    }
}

impl Connector for CommandConnector {
    fn deliver(&self, sms: &Sms<'_>, remaining: Duration) -> Result<Delivery, DeliveryError> {
        let argv = &self.config.argv;
        let program = argv.first().ok_or_else(|| DeliveryError::Local("argv is empty".into()))?;
        let mut child = Command::new(program)
            .args(&argv[1..])
            .env_clear()
            .env("PATH", SAFE_PATH)
            .env("SMSOTP_TO", sms.to.e164())
            .env("SMSOTP_TEXT", sms.text)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .current_dir("/")
            .process_group(0)
            .spawn()
            .map_err(|e| DeliveryError::Local(format!("cannot run {program}: {e}")))?;
        let limit = remaining.min(Duration::from_secs(self.config.timeout));
        let status = wait_with_deadline(&mut child, Instant::now() + limit)?;
        let output = read_output(&mut child);
        let said = redact(&output, sms);
        if status.success() {
            Ok(Delivery { message_id: None, answer: format!("exit 0: {said}") })
        } else {
            let how = status.code().map(|c| format!("exit {c}")).unwrap_or_else(|| "killed by a signal".into());
            Err(DeliveryError::Rejected(format!("{program} {how}: {said}")))
        }
    }
}

fn wait_with_deadline(child: &mut Child, deadline: Instant) -> Result<std::process::ExitStatus, DeliveryError> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                // the whole group: a script's own children must not outlive it
                if let Ok(pid) = i32::try_from(child.id()) {
                    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                }
                let _ = child.kill();
                let _ = child.wait();
                return Err(DeliveryError::Timeout);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(DeliveryError::Local(format!("waiting for the command failed: {e}"))),
        }
    }
}

fn read_output(child: &mut Child) -> String {
    let mut text = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.by_ref().take(4096).read_to_string(&mut text);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.by_ref().take(4096).read_to_string(&mut text);
    }
    text
}
