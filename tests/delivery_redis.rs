//! Delivery records in Redis (`[state] backend = "redis"`): the module's sent
//! records, the daemon's reports and the connectors' demotion all live under
//! the key prefix, so one smsotp-dlrd serves the fleet and a demotion holds
//! for every host. Nothing is written to `reports_dir`.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::dlrd::{Dlrd, delivery_section};
use common::gateway::{Gateway, Mode};
use common::redis::{PAM_USER, Redis};
use common::*;
use pam_smsotp::auth::{DeliveryLog, Sender, Sms};
use pam_smsotp::config::Config;
use pam_smsotp::connector::Chain;
use pam_smsotp::dlr::record::DeliveryState;
use pam_smsotp::state::delivery::{StoredDeliveryLog, report_store};

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[test]
fn reports_and_demotions_are_shared_through_redis() {
    require!(Root, Redis);
    let r = Redis::start();
    let (a, b) = (Gateway::start(Mode::text(200, "OK")), Gateway::start(Mode::text(200, "OK")));
    let dir = test_dir();
    let port = free_port();
    let config_path = dir.path().join("pam_smsotp.toml");
    let entry = |name: &str, g: &Gateway| {
        format!(
            "[[connector]]\nname = \"{name}\"\ntype = \"http\"\nurl = \"{}?to={{{{to}}}}&text={{{{text}}}}&dlr={{{{dlr_url}}}}\"\n",
            g.url("/send")
        )
    };
    let text = format!(
        "[state]\nbackend = \"redis\"\ndir = \"{}\"\n[state.redis]\nurl = \"{}\"\nusername = \"{PAM_USER}\"\npassword_file = \"{}\"\n{}{}{}",
        dir.path().join("state").display(),
        r.plain_url(),
        r.password_file(dir.path()).display(),
        delivery_section(dir.path(), port, "demote_after = 2\ndemote_for = 600"),
        entry("a", &a),
        entry("b", &b)
    );
    write_private(&config_path, &text);
    let dlrd = Dlrd::start(&config_path, port);
    let config = Config::load(&config_path).unwrap();
    let to = pam_smsotp::phone::Phone::normalise("+15551234567", "").unwrap();
    let sms = Sms { to: &to, text: "123456 is your code", code: "123456", seq: "R2", expires: now() + 60, user: "alice" };
    let log = pam_smsotp::log::MemoryLog::default();
    // each send is another login (on any host of the fleet)
    let send = || {
        let mut chain = Chain::from_config(&config);
        chain.delivery = StoredDeliveryLog::from_config(&config).map(|d| Box::new(d) as Box<dyn DeliveryLog>);
        chain.send(&sms, Duration::from_secs(5), &log).unwrap().connector
    };
    for n in 0..2 {
        assert_eq!(send(), "a");
        let dlr = a.requests()[n].query("dlr").unwrap();
        let path = dlr.strip_prefix(&format!("http://127.0.0.1:{port}")).unwrap();
        assert_eq!(dlrd.get(&format!("{path}?status=UNDELIV&reason=absent")).0, 200, "{}", dlrd.output());
    }
    assert_eq!(send(), "b", "a is demoted for the fleet");
    let keys = r.cli(&["--scan"]);
    assert!(keys.lines().any(|k| k.starts_with("smsotp:dlr:report:")), "{keys}");
    assert!(keys.lines().any(|k| k == "smsotp:dlr:connector:a"), "{keys}");
    assert!(keys.lines().all(|k| k.starts_with("smsotp:")), "{keys}");
    assert_eq!(std::fs::read_dir(dir.path().join("reports")).unwrap().count(), 0, "nothing on disk");

    let all = report_store(&config).list(0).unwrap();
    assert_eq!(all.len(), 3);
    let failed: Vec<_> = all.iter().filter(|(_, r)| r.as_ref().map(|r| r.state) == Some(DeliveryState::Failed)).collect();
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0].1.as_ref().unwrap().reason, "absent");
    let out =
        std::process::Command::new(smsotp_path()).arg("--config").arg(&config_path).args(["deliveries", "--failed"]).output().unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.matches("via a to +*********67: failed (absent)").count() == 2 && listed.contains("connector a: demoted"), "{listed}");
}
