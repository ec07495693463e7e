//! Who the client is when Rapport stands behind reverse proxies or a load balancer: the peer
//! address is the proxy's, so sign-in lockouts and rate limits would count every client as
//! one. `X-Forwarded-For` says who the proxy spoke for, but anyone can send that header, so it
//! is believed only from the addresses an administrator listed (`RAPPORT_TRUSTED_PROXIES`).

use axum::http::HeaderMap;
use std::net::IpAddr;

/// Addresses and networks (`10.0.0.5`, `10.1.0.0/16`, `fd00::/8`) whose `X-Forwarded-For` is
/// believed. Empty by default: the header is ignored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Parses a comma-separated list; the error names the entry that is wrong.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut networks = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (address, bits) = match entry.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (entry, None),
            };
            let ip: IpAddr = address.parse().map_err(|_| {
                format!("'{entry}' is not an IP address or network (like 10.0.0.0/8)")
            })?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                None => max,
                Some(b) => match b.parse::<u8>() {
                    Ok(n) if n <= max => n,
                    _ => return Err(format!("'{entry}': the prefix length must be 0 to {max}")),
                },
            };
            networks.push((ip, bits));
        }
        Ok(Self(networks))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|&(network, bits)| match (network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                same_prefix(n.to_bits().into(), a.to_bits().into(), bits, 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => same_prefix(n.to_bits(), a.to_bits(), bits, 128),
            _ => false,
        })
    }

    /// The client's address: the peer, unless the peer is a trusted proxy; then the nearest
    /// address in `X-Forwarded-For` that is not one (each proxy appends whom it heard from,
    /// so only the right end of the header is trustworthy).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let forwarded: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        for hop in forwarded.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) if self.trusts(ip) => continue,
                Ok(ip) => return ip.to_canonical(),
                // A hop our own proxy did not write: stop believing the header there.
                Err(_) => return peer,
            }
        }
        peer
    }
}

fn same_prefix(network: u128, address: u128, bits: u8, width: u32) -> bool {
    let shift = width - u32::from(bits);
    shift >= width || (network >> shift) == (address >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_header_is_believed_only_from_trusted_proxies() {
        let none = TrustedProxies::default();
        let spoofed = headers(&["1.2.3.4"]);
        assert_eq!(none.client(ip("203.0.113.9"), &spoofed), ip("203.0.113.9"));

        let proxies = TrustedProxies::parse("10.0.0.5, 192.168.0.0/16, fd00::/8").unwrap();
        assert_eq!(
            proxies.client(ip("10.0.0.5"), &headers(&["198.51.100.7"])),
            ip("198.51.100.7")
        );
        // A client cannot hide behind an address it wrote itself: the proxy appends the real one.
        assert_eq!(
            proxies.client(ip("10.0.0.5"), &headers(&["1.2.3.4, 198.51.100.7"])),
            ip("198.51.100.7")
        );
        // Several proxies in a row, split over header lines.
        assert_eq!(
            proxies.client(ip("10.0.0.5"), &headers(&["198.51.100.7", "192.168.4.4"])),
            ip("198.51.100.7")
        );
        // Not from a trusted proxy: the header is ignored.
        assert_eq!(
            proxies.client(ip("10.0.0.6"), &headers(&["1.2.3.4"])),
            ip("10.0.0.6")
        );
        // Garbage where our proxy would have written: the proxy itself counts.
        assert_eq!(
            proxies.client(ip("10.0.0.5"), &headers(&["junk"])),
            ip("10.0.0.5")
        );
        assert_eq!(
            proxies.client(ip("10.0.0.5"), &HeaderMap::new()),
            ip("10.0.0.5")
        );
        // IPv6 networks and IPv4 peers seen through IPv6 sockets.
        assert_eq!(
            proxies.client(ip("fd12::1"), &headers(&["2001:db8::9"])),
            ip("2001:db8::9")
        );
        assert_eq!(
            proxies.client(ip("::ffff:10.0.0.5"), &headers(&["198.51.100.7"])),
            ip("198.51.100.7")
        );
        assert!(
            TrustedProxies::parse("0.0.0.0/0")
                .unwrap()
                .trusts(ip("8.8.8.8"))
        );
    }

    #[test]
    fn bad_entries_are_named() {
        assert!(TrustedProxies::parse("").unwrap().0.is_empty());
        let e = TrustedProxies::parse("10.0.0.1, proxy.local").unwrap_err();
        assert!(e.contains("proxy.local"), "{e}");
        let e = TrustedProxies::parse("10.0.0.0/33").unwrap_err();
        assert!(e.contains("0 to 32"), "{e}");
    }
}
