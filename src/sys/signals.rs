//! Signal dispositions the module needs while it works inside a host process.

use nix::sys::signal::{SigAction, SigHandler, SigSet, SigmaskHow, Signal, pthread_sigmask, sigaction};

/// While alive, SIGCHLD has its default disposition, so that waiting for our own
/// child works even when the host ignores SIGCHLD (the kernel would reap it for
/// us) or has a handler that reaps every child (and would steal its status).
/// The host's disposition comes back on drop, as pam_unix does around unix_chkpwd.
pub struct DefaultSigchld {
    previous: Option<SigAction>,
}

impl DefaultSigchld {
    pub fn install() -> DefaultSigchld {
        let default = SigAction::new(SigHandler::SigDfl, nix::sys::signal::SaFlags::empty(), SigSet::empty());
        // SAFETY: installing SIG_DFL runs no code of ours in signal context; the
        // previous action is kept and put back unchanged on drop.
        let previous = unsafe { sigaction(Signal::SIGCHLD, &default) }.ok();
        DefaultSigchld { previous }
    }
}

impl Drop for DefaultSigchld {
    fn drop(&mut self) {
        if let Some(previous) = &self.previous {
            // SAFETY: restores exactly the action the host had installed.
            let _ = unsafe { sigaction(Signal::SIGCHLD, previous) };
        }
    }
}

/// While alive, SIGPIPE and SIGXFSZ are blocked in this thread, so that a
/// write of ours to a closed pipe or socket, or past the caller's
/// RLIMIT_FSIZE (a sudo or su caller sets it), fails with EPIPE or EFBIG
/// instead of ending the host; one raised meanwhile is taken off the pending
/// set on drop, so it never reaches the host. (std's sockets already write
/// with MSG_NOSIGNAL; this covers every other write.)
pub struct BlockedWriteSignals {
    previous_mask: Option<SigSet>,
    /// Those of the signals that were pending before: the host's, left alone.
    was_pending: Vec<Signal>,
}

const WRITE_SIGNALS: [Signal; 2] = [Signal::SIGPIPE, Signal::SIGXFSZ];

impl BlockedWriteSignals {
    pub fn block() -> BlockedWriteSignals {
        let was_pending = WRITE_SIGNALS.into_iter().filter(|&s| pending(s)).collect();
        let mut set = SigSet::empty();
        WRITE_SIGNALS.into_iter().for_each(|s| set.add(s));
        let mut previous = SigSet::empty();
        let previous_mask = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut previous)).ok().map(|()| previous);
        BlockedWriteSignals { previous_mask, was_pending }
    }
}

fn pending(signal: Signal) -> bool {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigpending fills the set it is given; it is read only on success.
    unsafe { libc::sigpending(set.as_mut_ptr()) == 0 && libc::sigismember(set.as_ptr(), signal as libc::c_int) == 1 }
}

impl Drop for BlockedWriteSignals {
    fn drop(&mut self) {
        let Some(previous) = &self.previous_mask else { return };
        for signal in WRITE_SIGNALS {
            if !self.was_pending.contains(&signal) && !previous.contains(signal) && pending(signal) {
                let mut only = SigSet::empty();
                only.add(signal);
                // blocked and pending: sigwait returns at once and clears it
                let _ = only.wait();
            }
        }
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(previous), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sigpipe_or_sigxfsz_raised_while_blocked_never_reaches_the_process() {
        for signal in WRITE_SIGNALS {
            // SAFETY: SIG_DFL for the signal in this test process; one that
            // escaped the guard would end the test binary, which is the failure.
            let old = unsafe { nix::sys::signal::signal(signal, SigHandler::SigDfl) }.unwrap();
            {
                let _guard = BlockedWriteSignals::block();
                nix::sys::signal::raise(signal).unwrap(); // to this thread
                assert!(pending(signal), "{signal:?}");
            }
            assert!(!pending(signal), "{signal:?}");
            // SAFETY: puts back what the test harness had.
            unsafe { nix::sys::signal::signal(signal, old) }.unwrap();
        }
    }

    #[test]
    fn sigchld_is_default_inside_and_the_hosts_disposition_after() {
        // SAFETY: SIG_IGN for SIGCHLD, as a hostile caller may leave it; restored below.
        let original = unsafe { nix::sys::signal::signal(Signal::SIGCHLD, SigHandler::SigIgn) }.unwrap();
        {
            let _guard = DefaultSigchld::install();
            let mut child = std::process::Command::new("/bin/sh").args(["-c", "exit 7"]).spawn().unwrap();
            assert_eq!(child.wait().unwrap().code(), Some(7), "the exit status is seen");
        }
        // SAFETY: reads back (and then restores) the disposition.
        let now = unsafe { nix::sys::signal::signal(Signal::SIGCHLD, original) }.unwrap();
        assert_eq!(now, SigHandler::SigIgn, "the host's disposition is back");
    }
}
