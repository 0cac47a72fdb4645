//! Demultiplexing the one media port across peer connections.
//!
//! A datagram from an address seen before goes where that address went last time (a hash
//! lookup, no lock). A datagram from a new address must be a STUN binding request whose
//! `USERNAME` reads `"<server ufrag>:<client ufrag>"`; the server ufrag names the connection
//! (every connection has its own, chosen by the server). The address is learned then. Browsers
//! often send from addresses that are not in their SDP (peer-reflexive candidates), so routing
//! by ufrag on first contact is required, not an optimisation. Anything else from an unknown
//! address is dropped.
//!
//! Learning an address on an unauthenticated STUN message is safe: the connection's ICE agent
//! still checks MESSAGE-INTEGRITY, and a forged check only routes the forger's own address.

use std::collections::HashMap;
use std::net::SocketAddr;

/// STUN magic cookie (RFC 8489).
const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
const ATTR_USERNAME: u16 = 0x0006;

/// Whether `b` looks like a STUN message (RFC 7983 demultiplexing: first byte 0..=3, cookie).
pub fn is_stun(b: &[u8]) -> bool {
    b.len() >= 20 && b[0] < 4 && b[4..8] == MAGIC_COOKIE
}

/// The `USERNAME` attribute of a STUN message, without allocating.
pub fn stun_username(b: &[u8]) -> Option<&str> {
    if !is_stun(b) {
        return None;
    }
    let len = u16::from_be_bytes([b[2], b[3]]) as usize;
    let body = b.get(20..20 + len)?;
    let mut i = 0;
    while i + 4 <= body.len() {
        let typ = u16::from_be_bytes([body[i], body[i + 1]]);
        let alen = u16::from_be_bytes([body[i + 2], body[i + 3]]) as usize;
        let value = body.get(i + 4..i + 4 + alen)?;
        if typ == ATTR_USERNAME {
            return std::str::from_utf8(value).ok();
        }
        // Attributes are padded to 4 bytes.
        i += 4 + alen.div_ceil(4) * 4;
    }
    None
}

/// The server's half of a STUN username (`"server:client"`).
pub fn server_ufrag(username: &str) -> &str {
    username.split(':').next().unwrap_or(username)
}

/// The address → route table of one socket reader. `R` is where a datagram goes (a room's
/// inbox and a connection id).
#[derive(Debug)]
pub struct Demux<R> {
    by_addr: HashMap<SocketAddr, R>,
}

impl<R> Default for Demux<R> {
    fn default() -> Self {
        Self {
            by_addr: HashMap::new(),
        }
    }
}

impl<R: Clone> Demux<R> {
    /// Where a datagram from `from` goes. `by_ufrag` resolves a server ufrag on first contact.
    pub fn route(
        &mut self,
        from: SocketAddr,
        datagram: &[u8],
        by_ufrag: impl FnOnce(&str) -> Option<R>,
    ) -> Option<R> {
        if let Some(r) = self.by_addr.get(&from) {
            // A known address may still start a new connection (ICE restart, a new peer
            // connection of the same browser reusing its port): a STUN message with a different
            // ufrag re-routes it.
            if !is_stun(datagram) {
                return Some(r.clone());
            }
        }
        let username = stun_username(datagram);
        match username.and_then(|u| by_ufrag(server_ufrag(u))) {
            Some(r) => {
                self.by_addr.insert(from, r.clone());
                Some(r)
            }
            None => self.by_addr.get(&from).cloned(),
        }
    }

    /// Forgets routes for which `gone` is true (their connection or room closed).
    pub fn forget_where(&mut self, mut gone: impl FnMut(&R) -> bool) {
        self.by_addr.retain(|_, r| !gone(r));
    }

    pub fn len(&self) -> usize {
        self.by_addr.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_addr.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A binding request with USERNAME and one more attribute after it.
    fn binding(username: &str) -> Vec<u8> {
        let mut attrs = Vec::new();
        // A PRIORITY attribute first, to exercise skipping.
        attrs.extend_from_slice(&0x0024u16.to_be_bytes());
        attrs.extend_from_slice(&4u16.to_be_bytes());
        attrs.extend_from_slice(&[0, 0, 0, 1]);
        attrs.extend_from_slice(&ATTR_USERNAME.to_be_bytes());
        attrs.extend_from_slice(&(username.len() as u16).to_be_bytes());
        attrs.extend_from_slice(username.as_bytes());
        while attrs.len() % 4 != 0 {
            attrs.push(0);
        }
        let mut m = vec![0x00, 0x01];
        m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        m.extend_from_slice(&MAGIC_COOKIE);
        m.extend_from_slice(&[7; 12]);
        m.extend_from_slice(&attrs);
        m
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn reads_username() {
        let m = binding("srvufrag:cli");
        assert!(is_stun(&m));
        assert_eq!(stun_username(&m), Some("srvufrag:cli"));
        assert_eq!(server_ufrag("srvufrag:cli"), "srvufrag");
        assert_eq!(server_ufrag("nocolon"), "nocolon");
    }

    #[test]
    fn rejects_non_stun_and_truncated() {
        assert!(!is_stun(&[0x80; 40]), "RTP");
        assert!(!is_stun(&[22, 254, 253]), "DTLS");
        let mut m = binding("a:b");
        m.truncate(m.len() - 2);
        assert_eq!(stun_username(&m), None);
        // Attribute length pointing past the end.
        let mut m = binding("a:b");
        let n = m.len();
        m[n - 6] = 0xff;
        assert_eq!(stun_username(&m), None);
        assert_eq!(stun_username(&[]), None);
    }

    #[test]
    fn learns_address_on_first_stun_then_routes_everything() {
        let mut d: Demux<u32> = Demux::default();
        let lookup = |u: &str| (u == "room1conn7").then_some(7u32);
        // Media from an unknown address is dropped.
        assert_eq!(d.route(addr(5000), &[0x80, 0x60, 0, 1], lookup), None);
        // STUN with an unknown ufrag is dropped.
        assert_eq!(d.route(addr(5000), &binding("nope:x"), lookup), None);
        assert!(d.is_empty());
        // STUN with a known ufrag routes and learns the address.
        assert_eq!(
            d.route(addr(5000), &binding("room1conn7:x"), lookup),
            Some(7)
        );
        assert_eq!(d.route(addr(5000), &[0x80, 0x60, 0, 1], lookup), Some(7));
        assert_eq!(d.route(addr(5001), &[0x80, 0x60, 0, 1], lookup), None);
        d.forget_where(|r| *r == 7);
        assert_eq!(d.route(addr(5000), &[0x80, 0x60, 0, 1], lookup), None);
    }

    #[test]
    fn known_address_moves_to_a_new_connection_on_new_ufrag() {
        let mut d: Demux<u32> = Demux::default();
        let lookup = |u: &str| match u {
            "a" => Some(1),
            "b" => Some(2),
            _ => None,
        };
        assert_eq!(d.route(addr(1), &binding("a:x"), lookup), Some(1));
        assert_eq!(d.route(addr(1), &binding("b:x"), lookup), Some(2));
        assert_eq!(d.route(addr(1), &[0x80], lookup), Some(2));
        // A STUN response-like message without username keeps the route.
        assert_eq!(d.route(addr(1), &binding("zzz:x"), lookup), Some(2));
    }
}
