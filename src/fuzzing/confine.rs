//! The checks before routing, then the route: the fuzzer's bytes are a request head, its first
//! line `METHOD target`, then header lines.
//!
//! Checked: the route found is the one with the longest matching prefix; its upstream path is
//! the request's path-and-query with the prefix cut as `strip_prefix` says. A request that
//! `confine::check` lets through has an allowed method, a Host (and absolute-form authority)
//! naming one of `server.hostnames`, and a path in which no upstream could find a dot segment:
//! decoded once, `\` read as `/`, `;parameters` (also `%3b`) dropped, no segment is only dots.
//! So an accepted path cannot normalise outside its route's prefix.

use http::{Method, Uri};

use super::Lines;
use super::forwarded::HOSTNAMES;
use crate::config::{HostMode, RouteConfig};
use crate::route::RouteTable;

/// The design example's routes, and a deeper one.
const ROUTES: [(&str, bool); 4] = [
    ("/", false),
    ("/service-cloud/", false),
    ("/service-cloud/webclient/", false),
    ("/demo/", true),
];

const ALLOWED: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

/// Confines and routes the request and checks the outcome (see the module's doc).
pub fn request_confine(data: &[u8]) {
    let (first, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let mut words = first.trim_ascii().split(|&b| b == b' ');
    let (Some(Ok(method)), Some(Ok(uri))) = (
        words.next().map(Method::from_bytes),
        words.next().map(Uri::try_from),
    ) else {
        return;
    };
    let headers = Lines::parse(rest, &[]).headers;
    let hostnames: Vec<String> = HOSTNAMES.iter().map(|h| h.to_string()).collect();
    let config: Vec<RouteConfig> = ROUTES
        .iter()
        .map(|&(prefix, strip_prefix)| RouteConfig {
            prefix: prefix.to_owned(),
            upstream: 0,
            strip_prefix,
            host: HostMode::Upstream,
            allowed_callers: Vec::new(),
            caller_key: None,
        })
        .collect();
    let table = RouteTable::new(&config);
    let path = uri.path();
    check_route(&table, path, &uri);

    if crate::confine::check(&method, &uri, &headers, &hostnames).is_err() {
        return;
    }
    assert!(ALLOWED.contains(&method), "method {method} let through");
    let served = |raw: &[u8]| host_of(raw).is_some_and(|h| hostnames.contains(&h));
    for host in headers.get_all(http::header::HOST) {
        assert!(served(host.as_bytes()), "Host {host:?} let through");
    }
    if let Some(authority) = uri.authority() {
        assert!(
            served(authority.as_str().as_bytes()),
            "authority {authority} let through"
        );
    }
    assert!(
        !has_dot_segment(path),
        "path {path:?} let through with a dot segment"
    );
}

/// The longest matching prefix wins, and the upstream path is cut from the request's.
fn check_route(table: &RouteTable, path: &str, uri: &Uri) {
    let matches = |p: &str| path.starts_with(p) || path == &p[..p.len() - 1];
    let longest = ROUTES
        .iter()
        .map(|r| r.0)
        .filter(|p| matches(p))
        .max_by_key(|p| p.len());
    let found = table.find(path);
    assert_eq!(
        found.map(|r| r.prefix.as_str()),
        longest,
        "route of {path:?}"
    );
    let Some(route) = found else { return };
    let pq = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let upstream = route.upstream_path_and_query(pq);
    if !route.strip_prefix {
        assert_eq!(upstream, pq, "the path is forwarded as received");
        return;
    }
    let kept = &route.prefix[..route.prefix.len() - 1];
    assert!(upstream.starts_with('/'), "{upstream:?}");
    let rest = pq
        .strip_prefix(kept)
        .unwrap_or_else(|| panic!("{pq:?} does not start with its route's prefix"));
    let want = if rest.starts_with('/') {
        rest.to_owned()
    } else {
        format!("/{rest}")
    };
    assert_eq!(upstream, want, "{pq:?} with the prefix cut");
}

/// The host of a `Host` value as `server.hostnames` holds it: lower case, port and brackets
/// dropped, an IP address in its canonical form, else one final dot dropped.
fn host_of(raw: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(raw).ok()?.to_ascii_lowercase();
    let (host, port) = match text.strip_prefix('[') {
        Some(v6) => v6.split_once(']')?,
        None => text.split_once(':').unwrap_or((&text, "")),
    };
    let port = port.strip_prefix(':').unwrap_or(port);
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => Some(ip.to_string()),
        Err(_) => Some(host.strip_suffix('.').unwrap_or(host).to_owned()),
    }
}

/// Whether some upstream could read a `.` or `..` segment in `path` (see the module's doc).
fn has_dot_segment(path: &str) -> bool {
    percent_decode(path)
        .replace('\\', "/")
        .split('/')
        .any(|segment| {
            let name = segment.split(';').next().unwrap_or(segment);
            !name.is_empty() && name.bytes().all(|b| b == b'.')
        })
}

/// `s` with every `%XX` decoded once (a `%` without two hex digits kept), as text.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |i: usize| b.get(i).and_then(|&c| (c as char).to_digit(16));
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_sees_dot_segments() {
        for path in [
            "/a/../b",
            "/a/%2E%2e/b",
            "/a/.%2e;x/b",
            "/a\\..\\b",
            "/a/..%3b/b",
            "/.",
        ] {
            assert!(has_dot_segment(path), "{path}");
        }
        for path in ["/a/b", "/a/...b/", "/a/%252e%252e/", "/a/.b/"] {
            assert!(!has_dot_segment(path), "{path}");
        }
    }
}
