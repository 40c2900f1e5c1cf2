//! Numbers (issue 15): the enrolled/pinned store on both backends, the
//! enrolment dialogue and pinning through real libpam, and `smsotp phone|enrol`.

mod common;

use std::path::Path;

use common::redis::{PAM_PASSWORD, PAM_USER, Redis};
use common::*;
use pam_smsotp::auth::{EnrolCode, NumberVia, Numbers, StoredNumber};
use pam_smsotp::config::{Config, Secret};
use pam_smsotp::state::RedisStore;

fn number(phone: &str) -> StoredNumber {
    StoredNumber { phone: phone.into(), at: 1, via: NumberVia::Admin, verified: true, by: "root".into() }
}

fn redis_config(r: &Redis, dir: &Path) -> Config {
    let text = format!(
        "[state]\nbackend = \"redis\"\ndir = \"{}\"\n[state.redis]\nurl = \"{}\"\nusername = \"{PAM_USER}\"\nca_file = \"{}\"\n",
        dir.join("state").display(),
        r.url(),
        r.pki.ca.display()
    );
    let mut c = Config::parse(&text).unwrap();
    c.state.redis.password = Some(Secret::new(PAM_PASSWORD.into()));
    c
}

/// The Redis backend of `Numbers`, as the module's ACL user: round trip, a
/// code redeemed once (also when 20 logins race for it), garbage refused.
#[test]
fn redis_numbers_round_trip_and_redeem_once() {
    require!(Root, Redis);
    let r = Redis::start();
    let dir = test_dir();
    let config = redis_config(&r, dir.path());
    let mut s = RedisStore::new(&config);
    assert_eq!(s.numbers("alice").unwrap(), Default::default());
    s.set_enrolled("alice", Some(&number("+4915112345678"))).unwrap();
    s.set_pinned("alice", Some(&number("+4915100000000"))).unwrap();
    let a = s.numbers("alice").unwrap();
    assert_eq!(a.enrolled.unwrap().phone, "+4915112345678");
    assert_eq!(a.pinned.unwrap().phone, "+4915100000000");
    assert!(r.cli(&["GET", "smsotp:{u-alice}:enrolled"]).contains("+4915112345678"));

    let code = EnrolCode { hash: "h1".into(), expires: 2_000_000_000, issued_at: 1_999_999_000, by: "root".into() };
    s.set_enrol_code("bob", Some(&code)).unwrap();
    let ttl: i64 = r.cli(&["PTTL", "smsotp:{u-bob}:enrol"]).trim().parse().unwrap();
    assert!(ttl > 990_000 && ttl <= 1_000_000, "the key expires with the code: {ttl}");
    assert!(!s.redeem_enrol_code("bob", "h2", &number("+4915112345678")).unwrap());
    let racers: Vec<_> = (0..20)
        .map(|i| {
            let config = config.clone();
            std::thread::spawn(move || RedisStore::new(&config).redeem_enrol_code("bob", "h1", &number(&format!("+49151000000{i:02}"))))
        })
        .collect();
    let won: Vec<bool> = racers.into_iter().map(|t| t.join().unwrap().unwrap()).collect();
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    let b = s.numbers("bob").unwrap();
    assert!(b.enrol_code.is_none());
    assert_eq!(b.enrolled.clone().unwrap(), b.pinned.unwrap());
    let listed: Vec<String> = s.list_numbers().unwrap().into_iter().map(|(u, _)| u).collect();
    assert_eq!(listed, ["alice", "bob"]);
    s.set_enrolled("alice", None).unwrap();
    let listed: Vec<String> = s.list_numbers().unwrap().into_iter().map(|(u, _)| u).collect();
    assert_eq!(listed, ["bob"], "a removed number is not listed");

    r.cli(&["SET", "smsotp:{u-carol}:pinned", "{not json"]);
    let mut fresh = RedisStore::new(&config);
    assert!(fresh.numbers("carol").is_err(), "garbage is an error, never 'no pin'");
}
