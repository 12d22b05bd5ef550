//! Node addresses given with `--url`, resolved once so that thousands of connects do not
//! each do a DNS lookup, and spread over the optional `--source-ips`.

use std::net::{IpAddr, SocketAddr};

use crate::error::LoadError;

/// One node the load test talks to: its HTTP base URL, the WebSocket URL and the socket
/// address both resolve to. The load test never talks to anything else.
#[derive(Debug, Clone)]
pub struct NodeUrl {
    /// `http://host:port` as given (without a trailing slash); REST calls are built on it.
    pub http: String,
    /// `ws://host:port/ws`, the request URI of the WebSocket handshake.
    pub ws: String,
    /// The resolved address, connected to directly (so a source address can be bound).
    pub addr: SocketAddr,
}

impl NodeUrl {
    /// Parses `http://host:port[/...]` (or `ws://`) and resolves the host. `https` is refused:
    /// the load test measures the node, not a TLS terminator in front of it.
    pub async fn resolve(url: &str) -> Result<NodeUrl, LoadError> {
        let (host, port) = split_url(url)?;
        let addr = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| LoadError::Config(format!("cannot resolve {url}: {e}")))?
            .next()
            .ok_or_else(|| LoadError::Config(format!("{url} resolves to no address")))?;
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        Ok(NodeUrl {
            http: format!("http://{host}:{port}"),
            ws: format!("ws://{host}:{port}/ws"),
            addr,
        })
    }
}

/// Splits a URL into host and port; a pure function so it can be tested without DNS.
pub fn split_url(url: &str) -> Result<(String, u16), LoadError> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("ws://"))
        .ok_or_else(|| {
            LoadError::Config(format!("{url}: only http:// and ws:// URLs are supported"))
        })?;
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| LoadError::Config(format!("{url}: unclosed [")))?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(LoadError::Config(format!("{url}: no host")));
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| LoadError::Config(format!("{url}: bad port {p:?}")))?,
        None => 80,
    };
    Ok((host.to_string(), port))
}

/// Where the load test's sessions go: the nodes round-robin per room member, and the
/// source addresses round-robin per connection (each address has its own ~28k ephemeral
/// ports towards one node address).
#[derive(Debug, Clone)]
pub struct Targets {
    /// The nodes, in `--url` order.
    pub nodes: Vec<NodeUrl>,
    /// Local addresses to bind client sockets to; empty lets the kernel choose.
    pub source_ips: Vec<IpAddr>,
}

impl Targets {
    /// Resolves every URL; at least one is required.
    pub async fn new(urls: &[String], source_ips: Vec<IpAddr>) -> Result<Targets, LoadError> {
        if urls.is_empty() {
            return Err(LoadError::Config("at least one --url is required".into()));
        }
        let mut nodes = Vec::with_capacity(urls.len());
        for url in urls {
            nodes.push(NodeUrl::resolve(url).await?);
        }
        Ok(Targets { nodes, source_ips })
    }

    /// The node for member `member` of room `room`: consecutive members of a room go to
    /// consecutive nodes (so a multi-node run crosses the broker), and the starting node
    /// rotates with the room so that small rooms still spread evenly.
    pub fn node_for(&self, room: usize, member: usize) -> &NodeUrl {
        let n = self.nodes.len().max(1);
        &self.nodes[(room + member) % n]
    }

    /// The source address for the `conn`-th connection, if any were given.
    pub fn source_for(&self, conn: usize) -> Option<IpAddr> {
        if self.source_ips.is_empty() {
            None
        } else {
            Some(self.source_ips[conn % self.source_ips.len()])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_host_and_port() {
        assert_eq!(
            split_url("http://127.0.0.1:8080").unwrap(),
            ("127.0.0.1".into(), 8080)
        );
        assert_eq!(
            split_url("ws://localhost:9/ws").unwrap(),
            ("localhost".into(), 9)
        );
        assert_eq!(
            split_url("http://example/").unwrap(),
            ("example".into(), 80)
        );
        assert_eq!(split_url("http://[::1]:81").unwrap(), ("::1".into(), 81));
        assert_eq!(split_url("http://[::1]").unwrap(), ("::1".into(), 80));
        assert!(split_url("https://x:1").is_err());
        assert!(split_url("http://x:notaport").is_err());
    }
}
