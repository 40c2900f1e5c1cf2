//! The log socket of a test's world: what pam_syslog(3), sudo, su and login
//! send to /dev/log inside the namespace.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What pam_syslog(3) and the programs send to /dev/log inside the namespace.
pub struct Syslog {
    lines: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
    path: PathBuf,
    marks: AtomicUsize,
}

impl Syslog {
    pub fn start(path: &Path) -> Syslog {
        let socket = UnixDatagram::bind(path).expect("bind the log socket");
        fs::set_permissions(path, fs::Permissions::from_mode(0o666)).unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        // a reader must run all the time: a full datagram queue (10 by default) blocks syslog(3) in the sender
        let reader = {
            let (lines, stop) = (lines.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 16384];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(n) = socket.recv(&mut buf) {
                        lines.lock().unwrap().push(String::from_utf8_lossy(&buf[..n]).into_owned());
                    }
                }
            })
        };
        Syslog { lines, stop, reader: Some(reader), path: path.to_path_buf(), marks: AtomicUsize::new(0) }
    }

    /// Everything logged so far: a marker sent now arrives after every line
    /// sent before it, so wait for the marker.
    pub fn text(&self) -> String {
        let mark = format!("SMSOTP-MARK-{}", self.marks.fetch_add(1, Ordering::SeqCst));
        UnixDatagram::unbound().unwrap().send_to(mark.as_bytes(), &self.path).expect("mark the log");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            {
                let lines = self.lines.lock().unwrap();
                if lines.iter().any(|l| l == &mark) {
                    return lines.iter().filter(|l| !l.starts_with("SMSOTP-MARK-")).map(|l| format!("{l}\n")).collect();
                }
            }
            assert!(Instant::now() < deadline, "the log reader is stuck");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Syslog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}
