//! The LDAPv3 messages the module sends (RFC 4511: bind, search, StartTLS,
//! unbind) and the decoding of the replies to them, from bytes that
//! `ber::check_nesting` has already bounded.

use zeroize::Zeroizing;

use super::ber::{self, BerError, ENUMERATED, INTEGER, OCTET_STRING, Reader, SEQUENCE, SET};

pub const STARTTLS_OID: &[u8] = b"1.3.6.1.4.1.1466.20037";
/// The unsolicited Notice of Disconnection (RFC 4511 4.4.1), sent with message ID 0.
pub const NOTICE_OF_DISCONNECTION: &[u8] = b"1.3.6.1.4.1.1466.20036";

pub const SIZE_LIMIT_EXCEEDED: i64 = 4;

fn message(id: i32, op: &[u8]) -> Vec<u8> {
    let mut content = ber::integer(INTEGER, id.into());
    content.extend_from_slice(op);
    ber::element(SEQUENCE, &content)
}

/// A simple bind; the buffers that hold the password are wiped when dropped.
pub fn bind_request(id: i32, dn: &str, password: &str) -> Zeroizing<Vec<u8>> {
    let mut op = Zeroizing::new(ber::integer(INTEGER, 3));
    op.extend(ber::element(OCTET_STRING, dn.as_bytes()));
    op.extend(Zeroizing::new(ber::element(0x80, password.as_bytes())).iter());
    let op = Zeroizing::new(ber::element(0x60, &op));
    Zeroizing::new(message(id, &op))
}

pub fn starttls_request(id: i32) -> Vec<u8> {
    message(id, &ber::element(0x77, &ber::element(0x80, STARTTLS_OID)))
}

/// A subtree search for at most `size_limit` entries returning `attributes`.
pub fn search_request(id: i32, base: &str, filter: &[u8], attributes: &[String], size_limit: i64, time_limit: i64) -> Vec<u8> {
    let mut op = ber::element(OCTET_STRING, base.as_bytes());
    op.extend(ber::integer(ENUMERATED, 2)); // wholeSubtree
    op.extend(ber::integer(ENUMERATED, 0)); // neverDerefAliases
    op.extend(ber::integer(INTEGER, size_limit));
    op.extend(ber::integer(INTEGER, time_limit));
    op.extend(ber::boolean(ber::BOOLEAN, false));
    op.extend_from_slice(filter);
    let names: Vec<u8> = attributes.iter().flat_map(|a| ber::element(OCTET_STRING, a.as_bytes())).collect();
    op.extend(ber::element(SEQUENCE, &names));
    message(id, &ber::element(0x63, &op))
}

pub fn unbind_request(id: i32) -> Vec<u8> {
    message(id, &ber::element(0x42, &[]))
}

/// The status part of a response. The diagnostic text is the server's, raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapResult {
    pub code: i64,
    pub diagnostic: Vec<u8>,
}

/// One entry as sent: bytes, which need not be UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawEntry {
    pub dn: Vec<u8>,
    pub attributes: Vec<(Vec<u8>, Vec<Vec<u8>>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Bind(LdapResult),
    Entry(RawEntry),
    Reference,
    Done(LdapResult),
    Extended {
        result: LdapResult,
        name: Option<Vec<u8>>,
    },
    /// IntermediateResponse or an operation the module never asked for.
    Other(u8),
}

/// The message ID and operation of one LDAPMessage's content.
pub fn decode(content: &[u8]) -> Result<(i64, Response), BerError> {
    let mut message = Reader::new(content);
    let id = ber::integer_value(message.expect(INTEGER, "the message ID")?)?;
    let op = message.next_element()?;
    // anything after the operation is controls, which the module does not use
    let body = op.content;
    let response = match op.tag {
        0x61 => Response::Bind(result(body)?),
        0x64 => Response::Entry(entry(body)?),
        0x65 => Response::Done(result(body)?),
        0x73 => Response::Reference,
        0x78 => {
            let mut r = Reader::new(body);
            let result = result_from(&mut r)?;
            let mut name = None;
            while !r.is_empty() {
                let e = r.next_element()?;
                if e.tag == 0x8a {
                    name = Some(e.content.to_vec());
                }
            }
            Response::Extended { result, name }
        }
        tag => Response::Other(tag),
    };
    Ok((id, response))
}

fn result(body: &[u8]) -> Result<LdapResult, BerError> {
    result_from(&mut Reader::new(body))
}

/// resultCode, matchedDN, diagnosticMessage; a referral and what follows stay in `r`.
fn result_from(r: &mut Reader) -> Result<LdapResult, BerError> {
    let code = ber::integer_value(r.expect(ENUMERATED, "a result code")?)?;
    r.expect(OCTET_STRING, "the matched DN")?;
    let diagnostic = r.expect(OCTET_STRING, "the diagnostic message")?.to_vec();
    Ok(LdapResult { code, diagnostic })
}

fn entry(body: &[u8]) -> Result<RawEntry, BerError> {
    let mut r = Reader::new(body);
    let dn = r.expect(OCTET_STRING, "the entry's DN")?.to_vec();
    let mut list = Reader::new(r.expect(SEQUENCE, "the entry's attributes")?);
    let mut attributes = Vec::new();
    while !list.is_empty() {
        let mut attribute = Reader::new(list.expect(SEQUENCE, "an attribute")?);
        let name = attribute.expect(OCTET_STRING, "an attribute name")?.to_vec();
        let mut set = Reader::new(attribute.expect(SET, "the attribute's values")?);
        let mut values = Vec::new();
        while !set.is_empty() {
            values.push(set.expect(OCTET_STRING, "an attribute value")?.to_vec());
        }
        attributes.push((name, values));
    }
    Ok(RawEntry { dn, attributes })
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::directory::ldap::ber::element;

    /// An LDAPMessage holding `op`, as a server sends it (for tests here and in the transport).
    pub fn reply(id: i32, op: &[u8]) -> Vec<u8> {
        message(id, op)
    }

    pub fn ldap_result(tag: u8, code: i64, text: &str) -> Vec<u8> {
        let mut c = ber::integer(ENUMERATED, code);
        c.extend(element(OCTET_STRING, b""));
        c.extend(element(OCTET_STRING, text.as_bytes()));
        element(tag, &c)
    }

    pub fn entry_op(dn: &[u8], attrs: &[(&str, &[&[u8]])]) -> Vec<u8> {
        let mut list = Vec::new();
        for (name, values) in attrs {
            let mut a = element(OCTET_STRING, name.as_bytes());
            a.extend(element(SET, &values.iter().flat_map(|v| element(OCTET_STRING, v)).collect::<Vec<u8>>()));
            list.extend(element(SEQUENCE, &a));
        }
        let mut c = element(OCTET_STRING, dn);
        c.extend(element(SEQUENCE, &list));
        element(0x64, &c)
    }

    fn content(msg: &[u8]) -> &[u8] {
        let mut r = Reader::new(msg);
        r.expect(SEQUENCE, "message").unwrap()
    }

    #[test]
    fn requests_are_what_slapd_expects() {
        // a bind as cn=x with password "pw", byte by byte
        assert_eq!(
            bind_request(1, "cn=x", "pw").as_slice(),
            &[0x30, 0x12, 0x02, 0x01, 0x01, 0x60, 0x0d, 0x02, 0x01, 0x03, 0x04, 0x04, b'c', b'n', b'=', b'x', 0x80, 0x02, b'p', b'w']
        );
        assert_eq!(unbind_request(3), vec![0x30, 0x05, 0x02, 0x01, 0x03, 0x42, 0x00]);
        let tls = starttls_request(1);
        assert_eq!(&tls[..7], &[0x30, 0x1d, 0x02, 0x01, 0x01, 0x77, 0x18]);
        let search = search_request(2, "dc=x", &[0x87, 0x01, b'a'], &["mobile".into()], 2, 5);
        let mut r = Reader::new(content(&search));
        assert_eq!(r.expect(INTEGER, "id").unwrap(), &[2]);
        let mut op = Reader::new(r.expect(0x63, "search").unwrap());
        assert_eq!(op.expect(OCTET_STRING, "base").unwrap(), b"dc=x");
        assert_eq!(op.expect(ENUMERATED, "scope").unwrap(), &[2]);
        assert_eq!(op.expect(ENUMERATED, "deref").unwrap(), &[0]);
        assert_eq!(op.expect(INTEGER, "size").unwrap(), &[2]);
        assert_eq!(op.expect(INTEGER, "time").unwrap(), &[5]);
        assert_eq!(op.expect(ber::BOOLEAN, "types").unwrap(), &[0]);
        assert_eq!(op.expect(0x87, "filter").unwrap(), b"a");
        assert_eq!(op.expect(SEQUENCE, "attrs").unwrap(), &element(OCTET_STRING, b"mobile")[..]);
    }

    #[test]
    fn responses_decode() {
        let done = reply(2, &ldap_result(0x65, 4, "size limit"));
        assert_eq!(decode(content(&done)), Ok((2, Response::Done(LdapResult { code: 4, diagnostic: b"size limit".to_vec() }))));
        let e = reply(2, &entry_op(b"uid=a\xff", &[("mobile", &[b"+1555", b"x"]), ("cn", &[])]));
        let want = RawEntry {
            dn: b"uid=a\xff".to_vec(),
            attributes: vec![(b"mobile".to_vec(), vec![b"+1555".to_vec(), b"x".to_vec()]), (b"cn".to_vec(), vec![])],
        };
        assert_eq!(decode(content(&e)), Ok((2, Response::Entry(want))));
        let mut body = ldap_result(0x78, 52, "bye")[2..].to_vec();
        body.extend(element(0x8a, NOTICE_OF_DISCONNECTION));
        let notice = reply(0, &element(0x78, &body));
        assert_eq!(
            decode(content(&notice)),
            Ok((
                0,
                Response::Extended {
                    result: LdapResult { code: 52, diagnostic: b"bye".to_vec() },
                    name: Some(NOTICE_OF_DISCONNECTION.to_vec())
                }
            ))
        );
        assert_eq!(decode(content(&reply(5, &element(0x79, &[])))), Ok((5, Response::Other(0x79))));
    }

    #[test]
    fn malformed_responses_are_errors_not_panics() {
        for bad in [
            vec![],
            vec![0x02, 0x01, 0x01],
            vec![0x04, 0x01, 0x01, 0x61, 0x00],
            vec![0x02, 0x00, 0x61, 0x00],
            vec![0x02, 0x01, 0x01, 0x61, 0x00],
            vec![0x02, 0x01, 0x01, 0x64, 0x02, 0x04, 0x00],
            vec![0x02, 0x01, 0x01, 0x64, 0x06, 0x04, 0x00, 0x30, 0x02, 0x30, 0x00],
            vec![0x02, 0x01, 0x01, 0x64, 0x0a, 0x04, 0x00, 0x30, 0x06, 0x30, 0x04, 0x04, 0x00, 0x31, 0x01],
        ] {
            assert!(decode(&bad).is_err(), "{bad:02x?}");
        }
    }
}
