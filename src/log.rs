//! What the module says to the administrator. In sshd and sudo this is
//! pam_syslog(3) (src/pam); in the `smsotp` command it is standard error.
//! Messages never carry a code, a secret or a full phone number.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Critical,
    Error,
    Warning,
    Notice,
    Info,
    Debug,
}

pub trait Log {
    fn log(&self, level: Level, message: &str);

    fn critical(&self, message: &str) {
        self.log(Level::Critical, message)
    }
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

/// `message` as one printable line: every control character (newline, escape,
/// NUL...) becomes '?', so a PAM item, a file or a peer's answer cannot forge
/// log lines or drive a terminal.
pub fn printable(message: &str) -> String {
    message.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// Collects lines in memory; for tests and for `smsotp` to print later.
#[derive(Default)]
pub struct MemoryLog(pub std::cell::RefCell<Vec<(Level, String)>>);

impl Log for MemoryLog {
    fn log(&self, level: Level, message: &str) {
        self.0.borrow_mut().push((level, printable(message)));
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
            Level::Critical => "critical",
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice | Level::Info => "info",
            Level::Debug => "debug",
        };
        eprintln!("smsotp: {tag}: {}", printable(message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_carry_no_control_characters() {
        assert_eq!(printable("user evil\nMar  1 sshd: Accepted\u{1b}[2J\0x\u{85}"), "user evil?Mar  1 sshd: Accepted?[2J?x?");
        assert_eq!(printable("jürgen from 2001:db8::1"), "jürgen from 2001:db8::1");
    }
}
