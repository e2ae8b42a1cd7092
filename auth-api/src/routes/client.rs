//! Which client a request comes from, for throttling per address: the TCP
//! peer, unless the peer is one of `TRUSTED_PROXIES`; then the right-most
//! address of `X-Forwarded-For` that is not a trusted proxy (the left part
//! of the header is whatever the client wrote, so it is never believed).
//! A header that cannot be read stops the walk at the last address a
//! trusted hop vouched for; it never fails the request.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use ates_core::http::ApiError;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderValue;
use axum::http::request::Parts;

use crate::AppState;
use crate::domain::throttle::Client;

/// An IP network, `10.0.0.0/8`, `2001:db8::/32`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl FromStr for Network {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<Self> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("{text:?} is not an IP address or network"))?;
        let address = address.to_canonical();
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= max)
                .ok_or_else(|| anyhow::anyhow!("{text:?} has a bad prefix length"))?,
            None => max,
        };
        Ok(Self { address, prefix })
    }
}

impl Network {
    /// Whether `address` is in this network.
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.address, address.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(network) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(network) & mask == u128::from(address) & mask
            }
            _ => false,
        }
    }
}

/// `TRUSTED_PROXIES`: the proxies whose `X-Forwarded-For` is believed.
/// Empty (the default) believes none: the TCP peer is the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Network>);

impl FromStr for TrustedProxies {
    type Err = anyhow::Error;

    /// A comma-separated list of addresses and networks.
    fn from_str(list: &str) -> anyhow::Result<Self> {
        list.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(Network::from_str)
            .collect::<anyhow::Result<Vec<_>>>()
            .map(Self)
    }
}

/// One hop of `X-Forwarded-For`: an address, possibly with a port
/// (`1.2.3.4:80`, `[2001:db8::1]:80`) or in brackets.
fn hop_address(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|socket| socket.ip()))
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|inner| inner.parse().ok())
        })
        .map(|address: IpAddr| address.to_canonical())
}

impl TrustedProxies {
    pub fn is_trusted(&self, address: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(address))
    }

    /// The client of a request from `peer` with these `X-Forwarded-For`
    /// header values (in the order received).
    pub fn client_of<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl DoubleEndedIterator<Item = &'a HeaderValue>,
    ) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.is_trusted(client) {
            return client;
        }
        for value in forwarded_for.rev() {
            let Ok(value) = value.to_str() else {
                return client;
            };
            for hop in value.split(',').rev() {
                let Some(address) = hop_address(hop) else {
                    return client;
                };
                client = address;
                if !self.is_trusted(address) {
                    return client;
                }
            }
        }
        client
    }
}

/// The client of a request (see the module docs): take it in a handler to
/// throttle per address.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Client);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ConnectInfo(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .copied()
            .ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!(
                    "no peer address: serve with ates_core::http::serve"
                ))
            })?;
        let client = state
            .trusted_proxies
            .client_of(peer.ip(), parts.headers.get_all("x-forwarded-for").iter());
        Ok(Self(Client(client)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(trusted: &str, peer: &str, headers: &[&[u8]]) -> String {
        let proxies: TrustedProxies = trusted.parse().unwrap();
        let values: Vec<HeaderValue> = headers
            .iter()
            .map(|bytes| HeaderValue::from_bytes(bytes).unwrap())
            .collect();
        proxies
            .client_of(peer.parse().unwrap(), values.iter())
            .to_string()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client() {
        assert_eq!(client("", "203.0.113.7", &[b"198.51.100.1"]), "203.0.113.7");
        // A peer that is not a trusted proxy cannot speak for anyone else.
        assert_eq!(
            client("10.0.0.1", "203.0.113.7", &[b"198.51.100.1"]),
            "203.0.113.7"
        );
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let trusted = "10.0.0.0/8, 192.168.1.5";
        // The client wrote "1.1.1.1" itself; the proxies appended the rest.
        assert_eq!(
            client(
                trusted,
                "10.0.0.2",
                &[b"1.1.1.1, 198.51.100.9, 192.168.1.5"]
            ),
            "198.51.100.9"
        );
        // Several headers are one list, in order.
        assert_eq!(
            client(trusted, "10.0.0.2", &[b"1.1.1.1", b"198.51.100.9:5555"]),
            "198.51.100.9"
        );
        assert_eq!(
            client(trusted, "10.0.0.2", &[b"[2001:db8::7]:443"]),
            "2001:db8::7"
        );
        // Nothing forwarded: the proxy itself.
        assert_eq!(client(trusted, "10.0.0.2", &[]), "10.0.0.2");
        // Only trusted hops: the left-most of them.
        assert_eq!(client(trusted, "10.0.0.2", &[b"10.9.9.9"]), "10.9.9.9");
        // IPv4-mapped IPv6 peers match IPv4 networks.
        assert_eq!(
            client(trusted, "::ffff:10.0.0.2", &[b"198.51.100.9"]),
            "198.51.100.9"
        );
    }

    #[test]
    fn a_malformed_header_stops_at_the_last_vouched_hop() {
        let trusted = "10.0.0.0/8";
        assert_eq!(client(trusted, "10.0.0.2", &[b"garbage"]), "10.0.0.2");
        assert_eq!(
            client(trusted, "10.0.0.2", &[b"198.51.100.9, , 10.0.0.3"]),
            "10.0.0.3"
        );
        assert_eq!(client(trusted, "10.0.0.2", &[b"\xff\xfe"]), "10.0.0.2");
        assert_eq!(client(trusted, "10.0.0.2", &[b""]), "10.0.0.2");
    }

    #[test]
    fn networks_parse_and_match() {
        let network: Network = "2001:db8::/32".parse().unwrap();
        assert!(network.contains("2001:db8:ffff::1".parse().unwrap()));
        assert!(!network.contains("2001:db9::1".parse().unwrap()));
        assert!(!network.contains("10.0.0.1".parse().unwrap()));
        let everything: Network = "0.0.0.0/0".parse().unwrap();
        assert!(everything.contains("203.0.113.1".parse().unwrap()));
        for bad in ["10.0.0.0/33", "nonsense", "10.0.0.0/x", "::/129"] {
            assert!(bad.parse::<Network>().is_err(), "{bad}");
        }
        assert!("10.0.0.1, bad".parse::<TrustedProxies>().is_err());
        assert_eq!(
            "".parse::<TrustedProxies>().unwrap(),
            TrustedProxies::default()
        );
    }
}
