//! Run a program for the module as a configured account, with nothing of the
//! caller's: under sudo and su the real uid, environment, fds, umask, rlimits and
//! signal dispositions belong to the user who typed the command.

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::{Signal, killpg};
use nix::sys::stat::{Mode, umask};
use nix::unistd::{Gid, Pid, Uid, User, getgrouplist, setgroups, setresgid, setresuid};

use super::signals::DefaultSigchld;

/// A fixed PATH for children: never the caller's.
pub const SAFE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The account a child runs as: every uid and gid, and its groups only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error("no account named {0:?}")]
    NoSuchUser(String),
    #[error("cannot look up account {0:?}: {1}")]
    Lookup(String, String),
    #[error("cannot start {program}: {reason}")]
    Start { program: String, reason: String },
    #[error("waiting for {program} failed: {reason}")]
    Wait { program: String, reason: String },
}

impl Identity {
    /// The account's ids and group list, from the name service.
    pub fn of(name: &str) -> Result<Identity, ChildError> {
        let user = User::from_name(name)
            .map_err(|e| ChildError::Lookup(name.into(), e.to_string()))?
            .ok_or_else(|| ChildError::NoSuchUser(name.into()))?;
        let cname = CString::new(name).map_err(|_| ChildError::NoSuchUser(name.into()))?;
        let groups = getgrouplist(&cname, user.gid).map_err(|e| ChildError::Lookup(name.into(), e.to_string()))?;
        Ok(Identity { uid: user.uid.as_raw(), gid: user.gid.as_raw(), groups: groups.into_iter().map(Gid::as_raw).collect() })
    }
}

pub struct ChildSpec {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The whole environment of the child (PATH is added).
    pub env: Vec<(String, String)>,
    pub identity: Identity,
    pub timeout: Duration,
    /// Output (stdout and stderr together) kept; the rest is read and dropped.
    pub output_cap: usize,
}

#[derive(Debug)]
pub enum ChildEnd {
    Exited(ExitStatus),
    /// The deadline came first: the whole process group was killed.
    TimedOut,
}

#[derive(Debug)]
pub struct ChildResult {
    pub end: ChildEnd,
    pub output: Vec<u8>,
}

/// Start the program, read its output as it comes, and wait for it until the
/// timeout; then kill its process group and return without waiting for anything
/// it left behind.
pub fn run(spec: &ChildSpec) -> Result<ChildResult, ChildError> {
    let program = spec.program.display().to_string();
    let start_error = |e: &dyn std::fmt::Display| ChildError::Start { program: program.clone(), reason: e.to_string() };
    let (read_end, write_end) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| start_error(&e))?;
    let write_err = write_end.try_clone().map_err(|e| start_error(&e))?;
    fcntl(read_end.as_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map_err(|e| start_error(&e))?;

    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .env_clear()
        .env("PATH", SAFE_PATH)
        .envs(spec.env.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))))
        .stdin(Stdio::null())
        .stdout(Stdio::from(write_end))
        .stderr(Stdio::from(write_err))
        .current_dir("/")
        .process_group(0);
    let identity = spec.identity.clone();
    let groups: Vec<Gid> = identity.groups.iter().copied().map(Gid::from_raw).collect();
    let fd_limit = getrlimit(Resource::RLIMIT_NOFILE).map(|(soft, _)| soft).unwrap_or(1024);
    // SAFETY: the closure runs in the forked child before exec and only makes
    // system calls (setrlimit, setgroups, setres[ug]id, umask, sigaction, fcntl)
    // on data prepared above; it allocates nothing and takes no lock.
    unsafe {
        command.pre_exec(move || clean_slate(&identity, &groups, fd_limit));
    }

    let _sigchld = DefaultSigchld::install();
    let started = Instant::now();
    let mut child = command.spawn().map_err(|e| start_error(&e))?;
    drop(command); // the parent's copies of the pipe's write ends
    let pgid = i32::try_from(child.id()).ok().map(Pid::from_raw);
    let deadline = started + spec.timeout;
    let mut output = Vec::new();
    let mut open = true;
    loop {
        if open {
            open = drain(&read_end, &mut output, spec.output_cap);
        }
        match child.try_wait() {
            Ok(Some(status)) => {
                if open {
                    drain(&read_end, &mut output, spec.output_cap);
                }
                return Ok(ChildResult { end: ChildEnd::Exited(status), output });
            }
            Ok(None) => {}
            Err(e) => return Err(ChildError::Wait { program, reason: e.to_string() }),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            if let Some(pgid) = pgid {
                let _ = killpg(pgid, Signal::SIGKILL);
            }
            let _ = child.kill();
            let _ = child.wait();
            return Ok(ChildResult { end: ChildEnd::TimedOut, output });
        }
        // wake for output, or every 20 ms to see whether the child has ended
        let slice = left.min(Duration::from_millis(20));
        if open {
            let mut fds = [PollFd::new(read_end.as_fd(), PollFlags::POLLIN)];
            let ms = u16::try_from(slice.as_millis()).unwrap_or(20).max(1);
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(ChildError::Wait { program, reason: e.to_string() }),
            }
        } else {
            std::thread::sleep(slice);
        }
    }
}

/// Read what is there now; false once the pipe is closed.
fn drain(fd: &OwnedFd, output: &mut Vec<u8>, cap: usize) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match nix::unistd::read(fd, &mut buf) {
            Ok(0) => return false,
            Ok(n) => {
                let keep = n.min(cap.saturating_sub(output.len()));
                output.extend_from_slice(&buf[..keep]);
            }
            Err(Errno::EINTR) => continue,
            Err(_) => return true, // EAGAIN: nothing more for now
        }
    }
}

/// In the child: limits of a fresh session, the account's ids and groups, a
/// sane umask, default signal handling and no inherited descriptor above 2.
fn clean_slate(identity: &Identity, groups: &[Gid], fd_limit: u64) -> io::Result<()> {
    let err = |e: Errno| io::Error::from_raw_os_error(e as i32);
    // A caller's tiny rlimits must not break the child; only root may raise them,
    // and a child that keeps the caller's is still safe, so failures are ignored.
    let unlimited = nix::sys::resource::RLIM_INFINITY;
    for resource in [Resource::RLIMIT_CPU, Resource::RLIMIT_FSIZE, Resource::RLIMIT_DATA, Resource::RLIMIT_AS] {
        let _ = setrlimit(resource, unlimited, unlimited);
    }
    let _ = setrlimit(Resource::RLIMIT_NOFILE, 1024, 1024.max(fd_limit));
    let _ = setrlimit(Resource::RLIMIT_STACK, 8 << 20, unlimited);
    let _ = setrlimit(Resource::RLIMIT_CORE, 0, 0);
    let (uid, gid) = (Uid::from_raw(identity.uid), Gid::from_raw(identity.gid));
    if Uid::effective().is_root() {
        setgroups(groups).map_err(err)?;
    }
    setresgid(gid, gid, gid).map_err(err)?;
    setresuid(uid, uid, uid).map_err(err)?;
    umask(Mode::from_bits_truncate(0o022));
    for sig in 1..=libc::SIGRTMAX() {
        // SAFETY: SIG_DFL runs no handler; this is the child, about to exec. The C
        // library refuses its own reserved signals and SIGKILL/SIGSTOP: ignored.
        let _ = unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    // SAFETY: close_range only changes descriptor flags; std's own error pipe is
    // already close-on-exec, so marking (not closing) keeps it working.
    let marked = unsafe { libc::close_range(3, u32::MAX, libc::CLOSE_RANGE_CLOEXEC as i32) };
    if marked != 0 {
        let top = i32::try_from(fd_limit.min(65_536)).unwrap_or(65_536);
        for fd in 3..top {
            // SAFETY: sets FD_CLOEXEC on a descriptor number; an unused one gives EBADF.
            let _ = unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
    Ok(())
}

/// "exit 3" or "killed by signal 9".
pub fn describe(status: &ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "ended".into(),
    }
}
