//! Browser safety: the response headers that confine what a page served by the node may do,
//! and the `Origin` policy that keeps other sites' pages off the WebSocket.
//!
//! A WebSocket is not covered by the same-origin policy: any page a user visits could open
//! one to the node with the user's network position. Browsers always send `Origin` on a
//! WebSocket handshake, so checking it refuses those pages; programs that are not browsers
//! send no `Origin` and are let in (they could forge one anyway).

use std::str::FromStr;

use actix_web::middleware::DefaultHeaders;
use actix_web::HttpRequest;

/// What the browser client needs and nothing more: its own scripts, styles, images (and
/// inline `data:` images), and connections (fetch and WebSocket) to the node it came from.
/// No inline script or style: the built client loads everything from files.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Browser features the chat never uses, turned off so an injected script cannot use them.
pub const PERMISSIONS_POLICY: &str = "camera=(), microphone=(), geolocation=(), payment=(), \
     usb=(), interest-cohort=()";

/// Counter of WebSocket handshakes refused because of their `Origin`.
pub const ORIGIN_REJECTED_METRIC: &str = "chat_ws_origin_rejected_total";

/// The headers every response carries (a handler that sets one itself keeps its own).
pub fn headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Permissions-Policy", PERMISSIONS_POLICY))
}

/// Which browser origins may open a WebSocket (`--allowed-origins`). The node's own origin
/// (the `Origin` whose host is the request's `Host`) is always allowed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AllowedOrigins {
    /// Only the node's own origin (the default: the client it serves).
    #[default]
    SameOrigin,
    /// The node's own origin and these, normalized (`scheme://host[:port]`, lower case).
    List(Vec<String>),
    /// Any origin (`*`): for development, or a deployment that checks elsewhere.
    Any,
}

impl FromStr for AllowedOrigins {
    type Err = String;

    /// Comma-separated origins such as `https://chat.example.com,http://localhost:5173`;
    /// `*` for any; empty for same-origin only.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut origins = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "*" {
                return Ok(AllowedOrigins::Any);
            }
            let origin = normalize(entry);
            match origin.split_once("://") {
                Some((scheme, host)) if !scheme.is_empty() && !host.is_empty() => {}
                _ => {
                    return Err(format!(
                        "{entry:?} is not an origin like https://host[:port]"
                    ))
                }
            }
            origins.push(origin);
        }
        Ok(if origins.is_empty() {
            AllowedOrigins::SameOrigin
        } else {
            AllowedOrigins::List(origins)
        })
    }
}

impl AllowedOrigins {
    /// Whether a WebSocket handshake may proceed: no `Origin` (not a browser), the node's
    /// own origin, or one the operator allowed.
    pub fn permits(&self, req: &HttpRequest) -> bool {
        let Some(origin) = req.headers().get(actix_web::http::header::ORIGIN) else {
            return true;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = normalize(origin);
        match self {
            AllowedOrigins::Any => true,
            AllowedOrigins::List(list) if list.contains(&origin) => true,
            _ => same_origin(&origin, req.connection_info().host()),
        }
    }
}

/// Lower case, without a trailing slash, so that configured and received origins compare.
fn normalize(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// Whether `origin` (normalized) names the host the request was sent to. A port that is the
/// scheme's default may be written or left out on either side.
fn same_origin(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = match scheme {
        "http" | "ws" => ":80",
        "https" | "wss" => ":443",
        _ => return false,
    };
    let host = host.to_ascii_lowercase();
    let strip = |text: &str| text.strip_suffix(default_port).unwrap_or(text).to_owned();
    strip(authority) == strip(&host)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use actix_web::test::TestRequest;

    fn request(host: &str, origin: Option<&str>) -> HttpRequest {
        let mut req = TestRequest::default().insert_header(("Host", host));
        if let Some(origin) = origin {
            req = req.insert_header(("Origin", origin));
        }
        req.to_http_request()
    }

    #[test]
    fn same_origin_is_the_default() {
        let policy: AllowedOrigins = "".parse().unwrap();
        assert_eq!(policy, AllowedOrigins::SameOrigin);
        assert!(policy.permits(&request(
            "chat.example:8080",
            Some("http://chat.example:8080")
        )));
        assert!(policy.permits(&request("chat.example", Some("https://Chat.Example:443/"))));
        assert!(policy.permits(&request("chat.example", None)));
        assert!(!policy.permits(&request("chat.example", Some("https://evil.example"))));
        assert!(!policy.permits(&request(
            "chat.example:8080",
            Some("http://chat.example:9090")
        )));
        assert!(!policy.permits(&request("chat.example", Some("null"))));
    }

    #[test]
    fn a_list_adds_origins_and_a_star_allows_all() {
        let policy: AllowedOrigins = " https://app.example , http://localhost:5173"
            .parse()
            .unwrap();
        assert!(policy.permits(&request("chat.example", Some("https://app.example"))));
        assert!(policy.permits(&request("chat.example", Some("http://localhost:5173"))));
        assert!(policy.permits(&request("chat.example", Some("http://chat.example"))));
        assert!(!policy.permits(&request("chat.example", Some("https://evil.example"))));
        let any: AllowedOrigins = "*".parse().unwrap();
        assert!(any.permits(&request("chat.example", Some("https://evil.example"))));
        assert!("chat.example".parse::<AllowedOrigins>().is_err());
    }
}
