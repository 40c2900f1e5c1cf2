//! Any bytes as a Redis server's reply: never a panic, never an allocation
//! beyond the bounds, and a reply is decoded only once all of it has arrived.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pam_smsotp::fuzzing::parse_redis_reply;

fuzz_target!(|bytes: &[u8]| {
    let Ok(Some((value, len))) = parse_redis_reply(bytes) else { return };
    assert!(len <= bytes.len());
    assert_eq!(parse_redis_reply(&bytes[..len]), Ok(Some((value, len))), "the reply needs only its own bytes");
    for cut in [0, len / 2, len.saturating_sub(1)] {
        if cut < len {
            assert_eq!(parse_redis_reply(&bytes[..cut]), Ok(None), "a partial reply is never decoded");
        }
    }
});
