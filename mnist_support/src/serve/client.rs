//! Who a request is from, as the limits count it: the peer's address, or
//! behind trusted proxies the X-Forwarded-For entry they added; an IPv6
//! address by its /64.

use std::net::{IpAddr, SocketAddr};

use tower_governor::key_extractor::{KeyExtractor, PeerIpKeyExtractor};
use tower_governor::GovernorError;

/// The client a rate limit counts: the peer's address, or behind
/// `proxies` trusted proxies the X-Forwarded-For entry that many places
/// from the right (each proxy appends the address it was reached from, so
/// the entries left of it are the client's to write and are never read).
/// An IPv6 client counts by its /64, the block one household or machine
/// gets. A request that did not pass all the proxies (too few entries, or
/// one that is not an address) counts as the peer.
#[derive(Debug, Clone, Copy)]
pub(super) struct ClientKey {
    pub(super) proxies: usize,
}

impl KeyExtractor for ClientKey {
    type Key = IpAddr;

    fn extract<T>(&self, req: &axum::http::Request<T>) -> Result<IpAddr, GovernorError> {
        let peer = PeerIpKeyExtractor.extract(req)?;
        Ok(client_of(req.headers(), peer, self.proxies))
    }
}

/// What a limit counts for a request from `peer` (see [`ClientKey`]).
pub fn client_of(headers: &axum::http::HeaderMap, peer: IpAddr, proxies: usize) -> IpAddr {
    let ip = match proxies {
        0 => peer,
        n => forwarded_client(headers, n).unwrap_or(peer),
    };
    network_of(ip)
}

/// The X-Forwarded-For entry `proxies` places from the right, over every
/// X-Forwarded-For header in order; `None` when there are fewer entries or
/// it is not an address. Only that entry is read: what a client wrote to
/// the left of it (junk, bytes that are not text) changes nothing, so it
/// cannot make the request count as the proxy.
pub fn forwarded_client(headers: &axum::http::HeaderMap, proxies: usize) -> Option<IpAddr> {
    let mut entries: Vec<&[u8]> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        entries.extend(value.as_bytes().split(|&b| b == b','));
    }
    let entry = entries.len().checked_sub(proxies).map(|i| entries[i])?;
    address_of(std::str::from_utf8(entry).ok()?.trim())
}

/// An X-Forwarded-For entry as an address: `203.0.113.7`, `2001:db8::1`,
/// or with a port or brackets, as some proxies write it (`203.0.113.7:5678`,
/// `[2001:db8::1]:5678`, `[2001:db8::1]`).
fn address_of(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| entry.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
}

/// What a rate limit counts for an address: itself (IPv4, or IPv4 mapped
/// into IPv6), or an IPv6 address's /64.
pub fn network_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !((1u128 << 64) - 1),
            )),
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_client_is_counted_from_the_right() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let h = headers(&["6.6.6.6, 1.2.3.4", "10.0.0.1"]);
        assert_eq!(forwarded_client(&h, 1), Some(ip("10.0.0.1")));
        assert_eq!(forwarded_client(&h, 2), Some(ip("1.2.3.4")));
        assert_eq!(forwarded_client(&h, 3), Some(ip("6.6.6.6")));
        assert_eq!(forwarded_client(&h, 4), None, "fewer entries than proxies");
        assert_eq!(forwarded_client(&headers(&["junk"]), 1), None);
        assert_eq!(forwarded_client(&HeaderMap::new(), 1), None);
        // Junk the client wrote left of the proxy's entry, even bytes that
        // are not text, does not hide the entry.
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            axum::http::HeaderValue::from_bytes(b"\xff\xfe junk, 203.0.113.7").unwrap(),
        );
        assert_eq!(forwarded_client(&h, 1), Some(ip("203.0.113.7")));
        // Entries with a port or brackets, as some proxies write them.
        for (entry, want) in [
            ("203.0.113.7:5678", "203.0.113.7"),
            ("[2001:db8::1]:5678", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
        ] {
            assert_eq!(
                forwarded_client(&headers(&[entry]), 1),
                Some(ip(want)),
                "{entry}"
            );
        }
    }

    #[test]
    fn ipv6_counts_by_its_64() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(network_of(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            network_of(ip("2001:db8:1:2::1")),
            network_of(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_ne!(
            network_of(ip("2001:db8:1:2::1")),
            network_of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(network_of(ip("::ffff:1.2.3.4")), ip("1.2.3.4"));
        assert_eq!(network_of(ip("1.2.3.4")), ip("1.2.3.4"));
    }
}
