//! `[state] dir`/sent.counts (the per-connector SMS counts of `smsotp report`)
//! on any bytes: counting never panics or overflows, and what it counts is
//! bounded by the lines it was given.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use pam_smsotp::state::sent::count_lines;

fuzz_target!(|data: &[u8]| {
    let Some((&first, bytes)) = data.split_first() else { return };
    let now = u64::from(first) * 1_000_000_000;
    let mut counts = BTreeMap::new();
    let bad = count_lines(bytes, now, &mut counts);
    let lines = bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count();
    let counted: u64 = counts.values().map(|c| c.last_day).sum();
    assert!(counted as usize + bad <= lines);
    assert!(counts.values().all(|c| c.last_hour <= c.last_day));
});
