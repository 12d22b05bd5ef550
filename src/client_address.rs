//! Who is on the other end: the address the per-address limits count against.
//!
//! Behind a reverse proxy (nginx, an ingress controller, a cloud load balancer) every
//! request comes from the proxy's address, so all users would share one budget of room
//! creations, failed joins and connections. Proxies name the real client in
//! `X-Forwarded-For`, but anyone can send that header, so it is believed only from the
//! proxies an operator lists (`--trusted-proxies`). The header is read from the right:
//! each trusted proxy appended the address it saw, and the first address that is not a
//! trusted proxy is the client. Entries further left were written by the client itself
//! and are never believed.

use std::net::IpAddr;
use std::str::FromStr;

use actix_web::HttpRequest;
use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` the node believes (`--trusted-proxies`): a
/// comma-separated list of addresses and CIDR blocks, empty for none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

/// A `--trusted-proxies` entry that is neither an address nor a CIDR block.
#[derive(Debug, thiserror::Error)]
#[error("not an IP address or CIDR block: {0:?}")]
pub struct InvalidProxy(String);

impl FromStr for TrustedProxies {
    type Err = InvalidProxy;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| InvalidProxy(entry.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }
}

impl TrustedProxies {
    /// Whether `address` is one of the trusted proxies.
    fn trusts(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client's address, given the connection's peer and the request's
    /// `X-Forwarded-For` values (in the order the headers came).
    pub fn resolve<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    ) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        let hops = forwarded_for.rev().flat_map(|value| value.rsplit(','));
        for hop in hops {
            let Some(address) = parse_hop(hop) else {
                // Garbage where an address should be: stop at the last address known
                // good rather than believe anything to its left.
                break;
            };
            client = address;
            if !self.trusts(address) {
                break;
            }
        }
        client
    }

    /// The client's address for `req`, if the connection has a peer address at all.
    pub fn client_of(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        let values: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .collect();
        Some(self.resolve(peer, values.into_iter()))
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5678`,
/// `[::1]:5678`), as some proxies write them.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(address) = hop.parse::<IpAddr>() {
        return Some(address.to_canonical());
    }
    hop.parse::<std::net::SocketAddr>()
        .ok()
        .map(|socket| socket.ip().to_canonical())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(list: &str) -> TrustedProxies {
        list.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.resolve(ip("10.0.0.5"), ["1.1.1.1"].into_iter()),
            ip("10.0.0.5")
        );
        let other = proxies("10.9.0.0/16");
        assert_eq!(
            other.resolve(ip("10.0.0.5"), ["1.1.1.1"].into_iter()),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client() {
        let trusted = proxies("10.0.0.0/8, 127.0.0.1");
        assert_eq!(
            trusted.resolve(ip("127.0.0.1"), ["203.0.113.7"].into_iter()),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn addresses_left_of_the_first_untrusted_hop_are_not_believed() {
        // The client wrote "6.6.6.6" itself; the edge proxy appended the client's real
        // address; an inner proxy appended the edge proxy's.
        let trusted = proxies("10.0.0.0/8");
        let header = ["6.6.6.6, 198.51.100.4, 10.1.2.3"];
        assert_eq!(
            trusted.resolve(ip("10.0.0.2"), header.into_iter()),
            ip("198.51.100.4")
        );
    }

    #[test]
    fn several_headers_read_as_one_list() {
        let trusted = proxies("10.0.0.0/8");
        let headers = ["6.6.6.6", "198.51.100.4, 10.1.2.3"];
        assert_eq!(
            trusted.resolve(ip("10.0.0.2"), headers.into_iter()),
            ip("198.51.100.4")
        );
    }

    #[test]
    fn only_trusted_hops_leave_the_leftmost_one() {
        let trusted = proxies("10.0.0.0/8");
        assert_eq!(
            trusted.resolve(ip("10.0.0.2"), ["10.0.0.9, 10.0.0.8"].into_iter()),
            ip("10.0.0.9")
        );
    }

    #[test]
    fn garbage_stops_the_walk_at_the_last_good_address() {
        let trusted = proxies("10.0.0.0/8");
        assert_eq!(
            trusted.resolve(ip("10.0.0.2"), ["198.51.100.4, nonsense"].into_iter()),
            ip("10.0.0.2")
        );
        assert_eq!(
            trusted.resolve(ip("10.0.0.2"), ["nonsense, 10.0.0.3"].into_iter()),
            ip("10.0.0.3")
        );
    }

    #[test]
    fn ports_and_mapped_addresses_are_understood() {
        let trusted = proxies("127.0.0.1");
        assert_eq!(
            trusted.resolve(ip("::ffff:127.0.0.1"), ["[2001:db8::1]:4711"].into_iter()),
            ip("2001:db8::1")
        );
        assert_eq!(
            trusted.resolve(ip("127.0.0.1"), ["192.0.2.1:80"].into_iter()),
            ip("192.0.2.1")
        );
    }

    #[test]
    fn no_header_means_the_peer() {
        let trusted = proxies("127.0.0.1");
        assert_eq!(
            trusted.resolve(ip("127.0.0.1"), std::iter::empty()),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn the_list_parses_addresses_and_blocks_and_refuses_garbage() {
        assert_eq!(proxies(""), TrustedProxies::default());
        assert_eq!(proxies(" 10.0.0.0/8 , ::1 ").0.len(), 2);
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        assert!("proxy.local".parse::<TrustedProxies>().is_err());
    }
}
