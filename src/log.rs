//! What the module says to the administrator. In sshd and sudo this is
//! pam_syslog(3) (src/pam); in the `smsotp` command it is standard error.
//! Messages never carry a code, a secret or a full phone number.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warning,
    Notice,
    Info,
    Debug,
}

pub trait Log {
    fn log(&self, level: Level, message: &str);

    fn error(&self, message: &str) {
        self.log(Level::Error, message)
    }
    fn warn(&self, message: &str) {
        self.log(Level::Warning, message)
    }
    fn notice(&self, message: &str) {
        self.log(Level::Notice, message)
    }
    fn info(&self, message: &str) {
        self.log(Level::Info, message)
    }
    fn debug(&self, message: &str) {
        self.log(Level::Debug, message)
    }
}

/// Collects lines in memory; for tests and for `smsotp` to print later.
#[derive(Default)]
pub struct MemoryLog(pub std::cell::RefCell<Vec<(Level, String)>>);

impl Log for MemoryLog {
    fn log(&self, level: Level, message: &str) {
        self.0.borrow_mut().push((level, message.to_string()));
    }
}

impl MemoryLog {
    pub fn lines(&self) -> Vec<String> {
        self.0.borrow().iter().map(|(_, m)| m.clone()).collect()
    }
}

/// Writes to standard error with a level prefix; `verbose` adds debug lines.
pub struct StderrLog {
    pub verbose: bool,
}

impl Log for StderrLog {
    fn log(&self, level: Level, message: &str) {
        if level == Level::Debug && !self.verbose {
            return;
        }
        let tag = match level {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice | Level::Info => "info",
            Level::Debug => "debug",
        };
        eprintln!("smsotp: {tag}: {message}");
    }
}
