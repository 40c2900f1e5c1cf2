//! `[state] dir`/sent.counts (the per-connector SMS counts of `smsotp report`) on
//! any bytes: decoding, counting and recording never panic or overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pam_smsotp::state::sent::decode_ledger;

fuzz_target!(|data: &[u8]| {
    let Some((&first, bytes)) = data.split_first() else { return };
    let Ok(mut ledger) = decode_ledger(bytes) else { return };
    let now = u64::from(first) * 1_000_000_000;
    let _ = ledger.counts(now);
    ledger.record("spool", now);
    let _ = ledger.counts(u64::MAX);
    let _ = ledger.counts(0);
});
