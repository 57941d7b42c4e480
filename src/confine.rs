//! What the public listeners agree to serve at all, decided before anything else looks at a
//! request: the method (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS), the host it is addressed
//! to (`Host`, or HTTP/2's `:authority`, one of `server.hostnames`) and a path without dot
//! segments. Pure functions over the request head; tables in `confine/tests.rs`.

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderValue};
use http::uri::Authority;
use http::{Method, Uri};

/// Why a request is refused before routing. Its status is chosen in `crate::error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refused {
    #[error("the request names no host")]
    MissingHost,
    #[error("the request has more than one Host header")]
    DuplicateHost,
    #[error("the request's host is malformed")]
    MalformedHost,
    #[error("this gateway does not serve that host")]
    MisdirectedHost,
    #[error("the path has a dot segment")]
    DotSegment,
    #[error("method not allowed")]
    Trace,
    #[error("method not implemented")]
    UnknownMethod,
}

/// The methods that are forwarded, as an `Allow` value.
pub(crate) const ALLOWED_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

/// Everything this module checks, in order: method, host, path.
pub(crate) fn check(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    hostnames: &[String],
) -> Result<(), Refused> {
    check_method(method)?;
    check_host(uri, headers, hostnames)?;
    check_path(uri.path())
}

/// TRACE is refused as not allowed (it would echo cookies back), CONNECT and any method
/// outside [`ALLOWED_METHODS`] as not implemented.
pub(crate) fn check_method(method: &Method) -> Result<(), Refused> {
    match *method {
        Method::GET
        | Method::HEAD
        | Method::POST
        | Method::PUT
        | Method::PATCH
        | Method::DELETE
        | Method::OPTIONS => Ok(()),
        Method::TRACE => Err(Refused::Trace),
        _ => Err(Refused::UnknownMethod),
    }
}

/// The request must name its host exactly once per place (one `Host` header; the request
/// target's authority in absolute form or HTTP/2's `:authority`), and every name given must be
/// one of `hostnames`, port aside, case-insensitive. A request that names none is refused too.
pub(crate) fn check_host(
    uri: &Uri,
    headers: &HeaderMap,
    hostnames: &[String],
) -> Result<(), Refused> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(Refused::DuplicateHost);
    }
    if host.is_none() && uri.authority().is_none() {
        return Err(Refused::MissingHost);
    }
    if let Some(a) = uri.authority() {
        check_authority(a.as_str().as_bytes(), hostnames)?;
    }
    if let Some(h) = host {
        check_authority(h.as_bytes(), hostnames)?;
    }
    Ok(())
}

fn check_authority(raw: &[u8], hostnames: &[String]) -> Result<(), Refused> {
    let name = host_name(raw).ok_or(Refused::MalformedHost)?;
    if hostnames.iter().any(|h| *h == name) {
        Ok(())
    } else {
        Err(Refused::MisdirectedHost)
    }
}

/// Whether a `Host`-like value (`name[:port]`) names one of `hostnames`.
pub(crate) fn is_served(value: &HeaderValue, hostnames: &[String]) -> bool {
    check_authority(value.as_bytes(), hostnames).is_ok()
}

/// The host of an authority, as `server.hostnames` holds names: lower case, IPv6 without
/// brackets, an IP address in its canonical form, a DNS name's final dot dropped. `None`
/// when it is no authority, or carries user information. Borrowed from `raw` when it is
/// already in that form (every request to a served name is checked with it).
pub(crate) fn host_name(raw: &[u8]) -> Option<Cow<'_, str>> {
    if raw.is_empty() || raw.contains(&b'@') {
        return None;
    }
    let authority = Authority::try_from(raw).ok()?;
    // `Authority` keeps the bytes it was given: its host is the same prefix of `raw`.
    let host = std::str::from_utf8(raw)
        .ok()?
        .get(..authority.host().len())?;
    // After the host only `:port` (digits, maybe none): `http` lets `[::1]junk` through.
    let port = match &authority.as_str()[host.len()..] {
        "" => "",
        rest => rest.strip_prefix(':')?,
    };
    if !port.bytes().all(|b| b.is_ascii_digit())
        || (!port.is_empty() && port.parse::<u16>().is_err())
    {
        return None;
    }
    if let Some(v6) = host.strip_prefix('[') {
        let ip: IpAddr = v6.strip_suffix(']')?.parse().ok()?;
        return Some(Cow::Owned(ip.to_string()));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        // The parser takes only four decimal octets; without a leading zero they are canonical.
        let canonical = host.split('.').all(|o| o == "0" || !o.starts_with('0'));
        return Some(if canonical {
            Cow::Borrowed(host)
        } else {
            Cow::Owned(ip.to_string())
        });
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.is_empty() {
        return None;
    }
    Some(if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    })
}

/// Refuses a path with a `.` or `..` segment, in any spelling an upstream might resolve as one:
/// `%2e` for a dot, `\`, `%5c` and `%2f` as separators, and a `;parameter` (or `%3b...`) after
/// the dots (which Java servers strip before resolving the path).
pub(crate) fn check_path(path: &str) -> Result<(), Refused> {
    let mut rest = path;
    loop {
        let (segment, next) = split_segment(rest);
        if is_dot_segment(segment) {
            return Err(Refused::DotSegment);
        }
        match next {
            Some(next) => rest = next,
            None => return Ok(()),
        }
    }
}

/// The text up to the next separator (`/`, `\`, `%2f`, `%5c`) and what follows it.
fn split_segment(s: &str) -> (&str, Option<&str>) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' | b'\\' => return (&s[..i], Some(&s[i + 1..])),
            b'%' if b.len() >= i + 3
                && (b[i + 1..i + 3].eq_ignore_ascii_case(b"2f")
                    || b[i + 1..i + 3].eq_ignore_ascii_case(b"5c")) =>
            {
                return (&s[..i], Some(&s[i + 3..]));
            }
            _ => i += 1,
        }
    }
    (s, None)
}

/// Dots only (`.`, `..`, and `...`, which Windows servers trim to `..`), each dot possibly
/// `%2e`, possibly followed by `;...` or `%3b...` (a server that decodes before it drops
/// path parameters reads `..%3bx` as `..`).
fn is_dot_segment(segment: &str) -> bool {
    let b = segment.as_bytes();
    let params = (0..b.len())
        .find(|&i| {
            b[i] == b';'
                || (b[i] == b'%'
                    && b.get(i + 1..i + 3)
                        .is_some_and(|h| h.eq_ignore_ascii_case(b"3b")))
        })
        .unwrap_or(b.len());
    let segment = &segment[..params];
    let mut dots = 0;
    let mut rest = segment.as_bytes();
    while !rest.is_empty() {
        if rest[0] == b'.' {
            rest = &rest[1..];
        } else if rest.len() >= 3 && rest[0] == b'%' && rest[1..3].eq_ignore_ascii_case(b"2e") {
            rest = &rest[3..];
        } else {
            return false;
        }
        dots += 1;
    }
    dots > 0
}
