//! The response rewrites: the fuzzer's bytes are the upstream response's header lines, with
//! `upstream: <url>` (default the CEC's) and `prefix: /demo/` (a `strip_prefix` route).
//!
//! Checked: after `rewrite::set_cookies` there are as many Set-Cookie values as before, in the
//! same order, each the same cookie, and none keeps a `Domain` attribute naming the upstream's
//! host or a parent domain of it (read here as a browser reads it, RFC 6265 §5.2.3, whatever
//! bytes the value holds). A rewritten `Location` names the gateway's public origin, or is a
//! path under the route's prefix; a plain `https://<upstream>/...` is always rewritten.

use http::header::{self, HeaderValue};

use super::Lines;
use crate::config::{Origin, parse_origin};
use crate::rewrite::{PublicOrigin, location, set_cookies};

const DEFAULT_UPSTREAM: &str = "https://servicestage.besclouds.com";
const PUBLIC_ORIGIN: &str = "https://chat.example.com";

/// Rewrites the response's headers and checks them (see the module's doc).
pub fn response_rewrite(data: &[u8]) {
    let lines = Lines::parse(data, &["upstream", "prefix"]);
    let upstream = lines
        .setting("upstream")
        .and_then(parse_origin)
        .unwrap_or_else(|| parse_origin(DEFAULT_UPSTREAM).expect("a valid default upstream"));
    let prefix = lines
        .setting("prefix")
        .filter(|p| p.starts_with('/') && p.ends_with('/'))
        .map(str::to_owned);
    let public = PublicOrigin {
        origin: PUBLIC_ORIGIN,
        restore_prefix: prefix.as_deref(),
    };
    let mut h = lines.headers;
    let before: Vec<HeaderValue> = h.get_all(header::SET_COOKIE).iter().cloned().collect();
    set_cookies(&mut h, &upstream.host);
    let after: Vec<&HeaderValue> = h.get_all(header::SET_COOKIE).iter().collect();
    assert_eq!(before.len(), after.len(), "every Set-Cookie is kept");
    for (b, a) in before.iter().zip(&after) {
        let pair = |v: &HeaderValue| {
            v.as_bytes()
                .split(|&c| c == b';')
                .next()
                .map(<[u8]>::to_vec)
        };
        assert_eq!(pair(b), pair(a), "the same cookie, in the same order");
        if let Some(domain) = upstream_domain(a.as_bytes(), &upstream.host) {
            panic!(
                "Set-Cookie {a:?} keeps Domain={domain} of upstream {}",
                upstream.host
            );
        }
    }
    for name in [header::LOCATION, header::CONTENT_LOCATION] {
        for value in h.get_all(&name).iter().filter_map(|v| v.to_str().ok()) {
            check_location(value, &upstream, &public);
        }
    }
}

/// A `Domain` attribute of a Set-Cookie that a browser would scope to `host` or one of its
/// parents (RFC 6265 §5.2.3: the name and value trimmed of spaces and tabs, a leading dot
/// dropped, case aside; an IP address has no parents), read from the bytes, UTF-8 or not.
fn upstream_domain(value: &[u8], host: &str) -> Option<String> {
    let text = String::from_utf8_lossy(value);
    let host = host.to_ascii_lowercase();
    let wsp: &[char] = &[' ', '\t'];
    text.split(';')
        .skip(1)
        .filter_map(|attr| attr.split_once('='))
        .filter(|(k, _)| k.trim_matches(wsp).eq_ignore_ascii_case("domain"))
        .map(|(_, v)| {
            v.trim_matches(wsp)
                .trim_start_matches('.')
                .to_ascii_lowercase()
        })
        .find(|domain| {
            *domain == host
                || (host.parse::<std::net::IpAddr>().is_err()
                    && domain.contains('.')
                    && host.ends_with(&format!(".{domain}")))
        })
}

fn check_location(value: &str, upstream: &Origin, public: &PublicOrigin<'_>) {
    let rewritten = location(value, upstream, public);
    if let Some(out) = &rewritten {
        let under_origin = out
            .strip_prefix(public.origin)
            .is_some_and(|rest| rest.starts_with('/'));
        let under_prefix = public.restore_prefix.is_some_and(|p| out.starts_with(p));
        assert!(
            under_origin || under_prefix,
            "Location {value:?} became {out:?}, outside the public origin"
        );
    }
    if plainly_upstream(value, upstream) {
        assert!(
            rewritten.is_some(),
            "Location {value:?} still names the upstream"
        );
    }
}

/// `scheme://host[:port]` then nothing or `/`, `?`, `#` and printable ASCII, where scheme, host
/// and port are the upstream's (case aside, the default port written, empty or left out).
fn plainly_upstream(value: &str, upstream: &Origin) -> bool {
    let url = upstream.to_url();
    let Some((scheme, _)) = url.split_once("://") else {
        return false;
    };
    let lead = format!("{scheme}://");
    let Some(rest) = value
        .get(..lead.len())
        .filter(|s| s.eq_ignore_ascii_case(&lead))
        .map(|_| &value[lead.len()..])
    else {
        return false;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest[..end].to_ascii_lowercase();
    // `port` is what follows the host: nothing, or `:` and the digits.
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((h, p)) => (h, p),
            None => return false,
        },
        None => match authority.find(':') {
            Some(i) => authority.split_at(i),
            None => (authority.as_str(), ""),
        },
    };
    let port = match port.strip_prefix(':').unwrap_or(port) {
        "" => Some(if scheme == "https" { 443 } else { 80 }),
        p if p.bytes().all(|b| b.is_ascii_digit()) => p.parse::<u16>().ok(),
        _ => None,
    };
    let simple = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':');
    let tail_ok = rest[end..].bytes().all(|b| b.is_ascii_graphic());
    host == upstream.host && port == Some(upstream.port) && host.chars().all(simple) && tail_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_scoped_to_the_upstream_is_seen() {
        let host = "servicestage.besclouds.com";
        assert!(upstream_domain(b"a=1; Domain=.BESCLOUDS.com", host).is_some());
        assert!(upstream_domain(b"a=1; Domain=example.com; Domain=besclouds.com", host).is_some());
        assert!(upstream_domain(b"a=1; Domain=besclouds.com; Domain=example.com", host).is_some());
        assert!(upstream_domain(b"a=1; Domain=example.com", host).is_none());
        assert!(upstream_domain(b"a=1; Path=/", host).is_none());
        assert!(upstream_domain(b"domain=besclouds.com", host).is_none());
    }

    #[test]
    fn a_plain_upstream_location_is_seen() {
        let up = parse_origin(DEFAULT_UPSTREAM).unwrap();
        assert!(plainly_upstream(
            "https://ServiceStage.besclouds.com:443/x?y#z",
            &up
        ));
        assert!(plainly_upstream("HTTPS://servicestage.besclouds.com", &up));
        assert!(!plainly_upstream(
            "https://servicestage.besclouds.com:8443/",
            &up
        ));
        assert!(!plainly_upstream("http://servicestage.besclouds.com/", &up));
        assert!(!plainly_upstream(
            "https://user@servicestage.besclouds.com/",
            &up
        ));
    }
}
