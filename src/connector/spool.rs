//! `type = "spool"`: one JSON line {"to","text","time"} per message, appended to a
//! root-only file. The demo's default connector, and a test aid.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

use super::{Connector, Delivery, DeliveryError};
use crate::auth::Sms;

pub struct SpoolConnector {
    path: PathBuf,
}

impl SpoolConnector {
    pub fn new(path: PathBuf) -> Self {
        SpoolConnector { path }
    }
}

impl Connector for SpoolConnector {
    fn deliver(&self, sms: &Sms<'_>, _timeout: Duration) -> Result<Delivery, DeliveryError> {
        let local = |what: &str, e: std::io::Error| DeliveryError::Local(format!("{what} {}: {e}", self.path.display()));
        if let Some(dir) = self.path.parent()
            && !dir.exists()
        {
            DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| local("cannot create the folder of", e))?;
        }
        let time = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let line = serde_json::json!({ "to": sms.to.e164(), "text": sms.text, "time": time });
        let mut bytes = Zeroizing::new(line.to_string().into_bytes());
        bytes.push(b'\n');
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&self.path)
            .map_err(|e| local("cannot open", e))?;
        // One write(2) of the whole line on an O_APPEND file: concurrent logins do not interleave.
        file.write_all(&bytes).map_err(|e| local("cannot write", e))?;
        Ok(Delivery { message_id: None, answer: format!("appended to {}", self.path.display()) })
    }
}
