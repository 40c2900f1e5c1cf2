//! Host name resolution inside a deadline, on the calling thread: /etc/hosts,
//! then the nameservers of /etc/resolv.conf over UDP. getaddrinfo(3) has no
//! timeout of its own (a dead nameserver holds it for resolv.conf's
//! timeout × attempts × servers), and resolving on a helper thread is not
//! allowed inside sshd and sudo. Nothing comes from the caller's environment
//! (LOCALDOMAIN, RES_OPTIONS, HOSTALIASES are the caller's under sudo).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const HOSTS: &str = "/etc/hosts";
const RESOLV_CONF: &str = "/etc/resolv.conf";
/// The system files are read only this far: a huge file costs nothing.
const MAX_FILE: u64 = 1 << 20;
/// One try at one nameserver waits at most this long before the next is asked.
const TRY_TIMEOUT: Duration = Duration::from_millis(1500);
const MAX_ANSWER: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("host not found")]
    NotFound,
    #[error("no nameserver answered in time")]
    Timeout,
    #[error("not a host name")]
    BadName,
    #[error("name resolution failed: {0}")]
    Failed(String),
}

/// Where and how to resolve: the machine's files, or given ones (tests).
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    pub hosts: String,
    pub nameservers: Vec<SocketAddr>,
    pub search: Vec<String>,
    pub ndots: usize,
}

impl Resolver {
    /// The machine's /etc/hosts and /etc/resolv.conf.
    pub fn system() -> Resolver {
        let read = |path: &str| -> String {
            use std::io::Read;
            let mut text = String::new();
            if let Ok(f) = std::fs::File::open(path) {
                let _ = f.take(MAX_FILE).read_to_string(&mut text);
            }
            text
        };
        let mut r = Resolver::from_resolv_conf(&read(RESOLV_CONF));
        r.hosts = read(HOSTS);
        r
    }

    /// Nameservers (port 53), search domains and ndots from resolv.conf text.
    pub fn from_resolv_conf(text: &str) -> Resolver {
        let mut r = Resolver { ndots: 1, ..Resolver::default() };
        for line in text.lines() {
            let mut words = line.split(['#', ';']).next().unwrap_or("").split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    if let Some(ip) = words.next().and_then(|w| w.split('%').next()?.parse::<IpAddr>().ok())
                        && r.nameservers.len() < 3
                    {
                        r.nameservers.push(SocketAddr::new(ip, 53));
                    }
                }
                Some("search") | Some("domain") => r.search = words.take(6).map(|d| d.trim_end_matches('.').to_string()).collect(),
                Some("options") => {
                    for w in words {
                        if let Some(n) = w.strip_prefix("ndots:").and_then(|n| n.parse::<usize>().ok()) {
                            r.ndots = n.min(15);
                        }
                    }
                }
                _ => {}
            }
        }
        if r.nameservers.is_empty() {
            // what the C library does without a nameserver line
            r.nameservers =
                vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53), SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 53)];
        }
        r
    }

    /// The addresses of `host` (an IP literal, bracketed or not, or a name), with
    /// `port`, found before `deadline`.
    pub fn resolve(&self, host: &str, port: u16, deadline: Instant) -> Result<Vec<SocketAddr>, ResolveError> {
        let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let name = bare.trim_end_matches('.').to_ascii_lowercase();
        if !valid_name(&name) {
            return Err(ResolveError::BadName);
        }
        let from_hosts = hosts_lookup(&self.hosts, &name);
        if !from_hosts.is_empty() {
            return Ok(from_hosts.into_iter().map(|ip| SocketAddr::new(ip, port)).collect());
        }
        if name == "localhost" || name.ends_with(".localhost") {
            return Ok(vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)]);
        }
        let mut last = ResolveError::NotFound;
        for candidate in self.candidates(&name, bare.ends_with('.')) {
            match self.query_all(&candidate, deadline) {
                Ok(ips) if !ips.is_empty() => return Ok(ips.into_iter().map(|ip| SocketAddr::new(ip, port)).collect()),
                Ok(_) => {}
                Err(ResolveError::Timeout) => return Err(ResolveError::Timeout),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The names to ask for, in order, as the C library's search rules say.
    fn candidates(&self, name: &str, absolute: bool) -> Vec<String> {
        if absolute {
            return vec![name.to_string()];
        }
        let searched = self.search.iter().map(|d| format!("{name}.{d}"));
        if name.matches('.').count() >= self.ndots {
            std::iter::once(name.to_string()).chain(searched).collect()
        } else {
            searched.chain(std::iter::once(name.to_string())).collect()
        }
    }

    /// A and AAAA records of `name` from the first nameserver that answers.
    /// The servers are asked in turn, round after round (UDP may lose a
    /// question), until one answers or the deadline comes.
    fn query_all(&self, name: &str, deadline: Instant) -> Result<Vec<IpAddr>, ResolveError> {
        let mut last = ResolveError::Timeout;
        for _round in 0..3 {
            for server in &self.nameservers {
                if Instant::now() >= deadline {
                    return Err(ResolveError::Timeout);
                }
                match ask(*server, name, deadline) {
                    Ok(answer) => return Ok(answer),
                    Err(e @ ResolveError::NotFound) => return Err(e),
                    Err(e) => last = e,
                }
            }
        }
        Err(last)
    }
}

/// Send both questions to one server and collect the two answers.
fn ask(server: SocketAddr, name: &str, deadline: Instant) -> Result<Vec<IpAddr>, ResolveError> {
    let failed = |e: std::io::Error| ResolveError::Failed(e.to_string());
    let local: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().map_err(|_| ResolveError::BadName)?
    } else {
        "[::]:0".parse().map_err(|_| ResolveError::BadName)?
    };
    let socket = UdpSocket::bind(local).map_err(failed)?;
    socket.connect(server).map_err(failed)?;
    let ids = [random_id()?, random_id()?];
    for (id, qtype) in ids.iter().zip([TYPE_A, TYPE_AAAA]) {
        socket.send(&query(*id, name, qtype)).map_err(failed)?;
    }
    let try_until = deadline.min(Instant::now() + TRY_TIMEOUT);
    let mut pending = vec![ids[0], ids[1]];
    let mut found = Vec::new();
    let mut not_found = 0;
    let mut buf = [0u8; MAX_ANSWER];
    while !pending.is_empty() {
        let left = try_until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return if found.is_empty() { Err(ResolveError::Timeout) } else { Ok(found) };
        }
        socket.set_read_timeout(Some(left)).map_err(failed)?;
        let n = match socket.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => continue,
            // an ICMP "port unreachable" from a server that is not there
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Err(ResolveError::Failed("refused".into())),
            Err(e) => return Err(failed(e)),
        };
        let Ok(answer) = parse_answer(&buf[..n], name) else { continue };
        let Some(i) = pending.iter().position(|id| *id == answer.id) else { continue };
        pending.remove(i);
        match answer.rcode {
            0 => found.extend(answer.addresses),
            3 => not_found += 1,
            code => return Err(ResolveError::Failed(format!("the nameserver answered with code {code}"))),
        }
    }
    if found.is_empty() && not_found > 0 { Err(ResolveError::NotFound) } else { Ok(found) }
}

fn random_id() -> Result<u16, ResolveError> {
    let mut b = [0u8; 2];
    getrandom::fill(&mut b).map_err(|_| ResolveError::Failed("no randomness".into()))?;
    Ok(u16::from_be_bytes(b))
}

/// Letters, digits, '-', '_' and dots, at most 253 bytes, labels of 1 to 63.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

fn hosts_lookup(hosts: &str, name: &str) -> Vec<IpAddr> {
    hosts
        .lines()
        .filter_map(|line| {
            let mut words = line.split('#').next().unwrap_or("").split_whitespace();
            let ip = words.next()?.split('%').next()?.parse::<IpAddr>().ok()?;
            words.any(|w| w.trim_end_matches('.').eq_ignore_ascii_case(name)).then_some(ip)
        })
        .collect()
}

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;

/// A standard query with recursion desired, one question.
pub fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(name.len() + 18);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

/// A DNS message that is not a well-formed answer to our question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    pub id: u16,
    pub rcode: u8,
    pub addresses: Vec<IpAddr>,
}

/// An answer to our question for `name`: its id, rcode and the A/AAAA records
/// of its answer section (CNAME chains come with their targets' records).
/// Anything malformed is an error, never a panic.
pub fn parse_answer(packet: &[u8], name: &str) -> Result<Answer, Malformed> {
    let u16_at = |at: usize| -> Result<u16, Malformed> {
        Ok(u16::from_be_bytes([*packet.get(at).ok_or(Malformed)?, *packet.get(at + 1).ok_or(Malformed)?]))
    };
    let id = u16_at(0)?;
    let flags = u16_at(2)?;
    if flags & 0x8000 == 0 {
        return Err(Malformed); // not a response
    }
    let (qdcount, ancount) = (u16_at(4)?, u16_at(6)?);
    if qdcount != 1 {
        return Err(Malformed);
    }
    let (asked, mut at) = read_name(packet, 12)?;
    if !asked.eq_ignore_ascii_case(name) {
        return Err(Malformed);
    }
    at += 4;
    let mut addresses = Vec::new();
    for _ in 0..ancount.min(64) {
        let (_, next) = read_name(packet, at)?;
        let rtype = u16_at(next)?;
        let len = usize::from(u16_at(next + 8)?);
        let data = packet.get(next + 10..next + 10 + len).ok_or(Malformed)?;
        match (rtype, len) {
            (TYPE_A, 4) => addresses.push(IpAddr::V4(Ipv4Addr::new(data[0], data[1], data[2], data[3]))),
            (TYPE_AAAA, 16) => {
                let mut b = [0u8; 16];
                b.copy_from_slice(data);
                addresses.push(IpAddr::V6(Ipv6Addr::from(b)));
            }
            _ => {}
        }
        at = next + 10 + len;
    }
    Ok(Answer { id, rcode: (flags & 0x000f) as u8, addresses })
}

/// A (possibly compressed) name at `at`, and where the data after it starts.
fn read_name(packet: &[u8], mut at: usize) -> Result<(String, usize), Malformed> {
    let mut name = String::new();
    let mut end = None;
    for _ in 0..128 {
        let len = *packet.get(at).ok_or(Malformed)?;
        match len {
            0 => return Ok((name, end.unwrap_or(at + 1))),
            l if l & 0xc0 == 0xc0 => {
                let target = usize::from(u16::from_be_bytes([l & 0x3f, *packet.get(at + 1).ok_or(Malformed)?]));
                end.get_or_insert(at + 2);
                at = target;
            }
            l if l & 0xc0 == 0 => {
                let label = packet.get(at + 1..at + 1 + usize::from(l)).ok_or(Malformed)?;
                if !name.is_empty() {
                    name.push('.');
                }
                name.extend(label.iter().map(|&b| if b.is_ascii_graphic() { b as char } else { '?' }));
                if name.len() > 255 {
                    return Err(Malformed);
                }
                at += 1 + usize::from(l);
            }
            _ => return Err(Malformed),
        }
    }
    Err(Malformed) // a pointer loop
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer_for(q: &[u8], records: &[(u16, &[u8])], rcode: u8) -> Vec<u8> {
        let mut a = q.to_vec();
        a[2] = 0x81;
        a[3] = 0x80 | rcode;
        a[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
        for (rtype, data) in records {
            a.extend_from_slice(&[0xc0, 12]);
            a.extend_from_slice(&rtype.to_be_bytes());
            a.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
            a.extend_from_slice(&(data.len() as u16).to_be_bytes());
            a.extend_from_slice(data);
        }
        a
    }

    /// A nameserver on loopback: answers `gw.test` with 127.0.0.1, or stays silent.
    fn fake_server(silent: bool) -> SocketAddr {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = s.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = s.recv_from(&mut buf) {
                if silent {
                    continue;
                }
                let q = &buf[..n];
                let (name, _) = read_name(q, 12).unwrap();
                let qtype = u16::from_be_bytes([q[n - 4], q[n - 3]]);
                let reply = match (name.as_str(), qtype) {
                    ("gw.test", TYPE_A) => answer_for(q, &[(TYPE_A, &[127, 0, 0, 1])], 0),
                    ("gw.test", _) => answer_for(q, &[], 0),
                    _ => answer_for(q, &[], 3),
                };
                let _ = s.send_to(&reply, from);
            }
        });
        addr
    }

    #[test]
    fn names_resolve_through_a_nameserver_and_hosts() {
        let r = Resolver { nameservers: vec![fake_server(false)], ndots: 1, hosts: "10.9.8.7 db.local db\n".into(), ..Resolver::default() };
        let soon = Instant::now() + Duration::from_secs(5);
        assert_eq!(r.resolve("gw.test", 443, soon).unwrap(), vec!["127.0.0.1:443".parse().unwrap()]);
        assert_eq!(r.resolve("GW.test.", 80, soon).unwrap(), vec!["127.0.0.1:80".parse().unwrap()]);
        assert_eq!(r.resolve("db", 389, soon).unwrap(), vec!["10.9.8.7:389".parse().unwrap()]);
        assert_eq!(r.resolve("[::1]", 1, soon).unwrap(), vec!["[::1]:1".parse().unwrap()]);
        assert_eq!(r.resolve("nope.test", 1, soon), Err(ResolveError::NotFound));
        assert_eq!(r.resolve("bad name", 1, soon), Err(ResolveError::BadName));
    }

    #[test]
    fn a_silent_nameserver_ends_at_the_deadline() {
        let r = Resolver { nameservers: vec![fake_server(true), fake_server(true)], ndots: 1, ..Resolver::default() };
        let started = Instant::now();
        assert_eq!(r.resolve("gw.test", 443, started + Duration::from_millis(700)), Err(ResolveError::Timeout));
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(650) && took < Duration::from_millis(1200), "{took:?}");
    }

    #[test]
    fn resolv_conf_and_search_order() {
        let r = Resolver::from_resolv_conf(
            "# c\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\nsearch corp.example lab.example\noptions ndots:2 timeout:30\n",
        );
        assert_eq!(r.nameservers, vec!["192.0.2.53:53".parse().unwrap(), "[fe80::1]:53".parse().unwrap()]);
        assert_eq!(r.candidates("gw", false), vec!["gw.corp.example", "gw.lab.example", "gw"]);
        assert_eq!(r.candidates("a.b.c", false)[0], "a.b.c");
        assert_eq!(r.candidates("gw", true), vec!["gw"]);
        assert_eq!(Resolver::from_resolv_conf("").nameservers.len(), 2);
    }

    #[test]
    fn hostile_answers_never_panic() {
        let q = query(7, "gw.test", TYPE_A);
        let good = answer_for(&q, &[(TYPE_A, &[192, 0, 2, 1])], 0);
        assert_eq!(parse_answer(&good, "gw.test").unwrap().addresses, vec!["192.0.2.1".parse::<IpAddr>().unwrap()]);
        assert!(parse_answer(&good, "other.test").is_err(), "an answer to another question");
        assert!(parse_answer(&q, "gw.test").is_err(), "a query is not an answer");
        for cut in 0..good.len() {
            let _ = parse_answer(&good[..cut], "gw.test");
        }
        // a compression pointer that points at itself
        let mut looped = good.clone();
        looped[12] = 0xc0;
        looped[13] = 12;
        assert!(parse_answer(&looped, "gw.test").is_err());
        let mut wrong_len = good.clone();
        let last = wrong_len.len() - 5;
        wrong_len[last] = 200;
        let _ = parse_answer(&wrong_len, "gw.test");
    }
}
