//! Browser-facing response rewrites: a `Set-Cookie` scoped to the upstream's domain becomes
//! host-only (so `ccmessaging-token` lands on the enterprise's domain), and a `Location` or
//! `Content-Location` that points at the upstream's origin points at the gateway instead.

use std::borrow::Cow;

use http::header::{self, HeaderMap, HeaderValue};

use crate::config::Origin;

/// The Set-Cookie value without its `Domain` attribute when that domain is `upstream_host` or
/// a parent of it (`Domain=.besclouds.com` for `servicestage.besclouds.com`); `None` when the
/// cookie is left alone. Every other attribute is kept as written. Read as bytes: a value with
/// non-ASCII bytes (a UTF-8 cookie value) is rewritten like any other.
pub(crate) fn set_cookie_without_upstream_domain(
    value: &[u8],
    upstream_host: &str,
) -> Option<Vec<u8>> {
    let mut parts = value.split(|&b| b == b';');
    let first = parts.next()?;
    let mut removed = false;
    let mut out = Vec::with_capacity(value.len());
    out.extend_from_slice(first);
    for attr in parts {
        let is_upstream_domain = attr
            .iter()
            .position(|&b| b == b'=')
            .map(|eq| (&attr[..eq], &attr[eq + 1..]))
            .filter(|(k, _)| k.trim_ascii().eq_ignore_ascii_case(b"domain"))
            .and_then(|(_, v)| std::str::from_utf8(v.trim_ascii()).ok())
            .is_some_and(|v| domain_covers(v, upstream_host));
        if is_upstream_domain {
            removed = true;
        } else {
            out.push(b';');
            out.extend_from_slice(attr);
        }
    }
    removed.then_some(out)
}

/// Whether a cookie `Domain` attribute value matches `host` or one of its parent domains.
fn domain_covers(domain: &str, host: &str) -> bool {
    let domain = domain.trim_start_matches('.');
    if domain.is_empty() {
        return false;
    }
    if domain.eq_ignore_ascii_case(host) {
        return true;
    }
    // An IP address has no parent domains.
    if host.parse::<std::net::IpAddr>().is_ok() {
        return false;
    }
    host.len() > domain.len()
        && host[host.len() - domain.len()..].eq_ignore_ascii_case(domain)
        && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
        && domain.contains('.')
}

/// Applies [`set_cookie_without_upstream_domain`] to every `Set-Cookie` of a response, keeping
/// their order.
pub(crate) fn set_cookies(h: &mut HeaderMap, upstream_host: &str) {
    let values: Vec<HeaderValue> = h.get_all(header::SET_COOKIE).iter().cloned().collect();
    if values.is_empty() {
        return;
    }
    let rewritten: Vec<HeaderValue> = values
        .into_iter()
        .map(
            |v| match set_cookie_without_upstream_domain(v.as_bytes(), upstream_host) {
                Some(b) => HeaderValue::from_bytes(&b)
                    .expect("bytes taken from a valid header value make a valid header value"),
                None => v,
            },
        )
        .collect();
    h.remove(header::SET_COOKIE);
    for v in rewritten {
        h.append(header::SET_COOKIE, v);
    }
}

/// Where the gateway is, for a response to one request.
pub(crate) struct PublicOrigin<'a> {
    /// `https://chat.example.com` (scheme and authority the client used).
    pub origin: &'a str,
    /// With `strip_prefix`, the route prefix to put back (`/demo/`); else `None`.
    pub restore_prefix: Option<&'a str>,
}

/// A `Location` value rewritten to the gateway's public origin when it points at `upstream`
/// (absolute URL with the upstream's scheme, host and port). With a stripped prefix, the
/// prefix is put back, also on absolute paths (`/x` → `/demo/x`). `None`: leave it.
pub(crate) fn location(
    value: &str,
    upstream: &Origin,
    public: &PublicOrigin<'_>,
) -> Option<String> {
    if value.starts_with('/') && !value.starts_with("//") {
        let prefix = public.restore_prefix?;
        return Some(join_prefix(prefix, value).into_owned());
    }
    // Split by hand, not by `http::Uri`: it refuses characters browsers follow (`>`, `"`),
    // and such a Location would then still send the browser to the upstream.
    let (scheme, rest) = value.split_once("://")?;
    let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if tail.starts_with('\\') {
        return None;
    }
    let origin = crate::config::parse_origin(&format!("{scheme}://{authority}"))?;
    if origin != *upstream {
        return None;
    }
    let rest = match tail {
        "" => Cow::Borrowed("/"),
        t if t.starts_with('/') => Cow::Borrowed(t),
        t => Cow::Owned(format!("/{t}")),
    };
    let path = match public.restore_prefix {
        Some(prefix) => join_prefix(prefix, &rest).into_owned(),
        None => rest.into_owned(),
    };
    Some(format!("{}{}", public.origin, path))
}

fn join_prefix<'a>(prefix: &str, path: &'a str) -> Cow<'a, str> {
    // prefix ends with '/', path starts with '/'.
    Cow::Owned(format!("{}{}", &prefix[..prefix.len() - 1], path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Scheme;

    #[test]
    fn set_cookie_table() {
        let host = "servicestage.besclouds.com";
        let cases = [
            (
                "ccmessaging-token=abc; Domain=servicestage.besclouds.com; Path=/; Secure; HttpOnly; SameSite=None",
                Some("ccmessaging-token=abc; Path=/; Secure; HttpOnly; SameSite=None"),
            ),
            ("t=1; domain=.besclouds.com; Path=/", Some("t=1; Path=/")),
            ("t=1;Domain=SERVICESTAGE.BESCLOUDS.COM", Some("t=1")),
            // Not the upstream's domain: untouched.
            ("t=1; Domain=example.com; Path=/", None),
            ("t=1; Domain=stage.besclouds.com", None),
            ("t=1; Domain=xbesclouds.com", None),
            // A bare TLD is never treated as a parent.
            ("t=1; Domain=com", None),
            ("t=1; Path=/; HttpOnly", None),
            // The value may contain '=' and the name 'domain'.
            (
                "domain=x=y; Domain=besclouds.com; Max-Age=60",
                Some("domain=x=y; Max-Age=60"),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                set_cookie_without_upstream_domain(input.as_bytes(), host).as_deref(),
                want.map(str::as_bytes),
                "{input}"
            );
        }
    }

    #[test]
    fn set_cookie_ip_upstream() {
        assert_eq!(
            set_cookie_without_upstream_domain(b"a=1; Domain=10.1.2.3; Secure", "10.1.2.3")
                .as_deref(),
            Some(&b"a=1; Secure"[..])
        );
        assert_eq!(
            set_cookie_without_upstream_domain(b"a=1; Domain=1.2.3", "10.1.2.3"),
            None
        );
    }

    /// Found by the `response_rewrite` fuzz target: a cookie whose value is UTF-8 (not a
    /// visible-ASCII header) kept the upstream's `Domain`, so the browser stored it for the
    /// vendor's domain instead of the gateway's.
    #[test]
    fn a_non_ascii_cookie_loses_the_upstream_domain_too() {
        let mut h = HeaderMap::new();
        let raw = "name=\u{6c64}\u{59c6}; Domain=servicestage.besclouds.com; Path=/";
        h.append(
            header::SET_COOKIE,
            HeaderValue::from_bytes(raw.as_bytes()).unwrap(),
        );
        h.append(header::SET_COOKIE, HeaderValue::from_static("b=2; Path=/"));
        set_cookies(&mut h, "servicestage.besclouds.com");
        let got: Vec<&[u8]> = h
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        let want = "name=\u{6c64}\u{59c6}; Path=/";
        assert_eq!(got, [want.as_bytes(), b"b=2; Path=/"]);
    }

    #[test]
    fn location_table() {
        let up = Origin {
            scheme: Scheme::Https,
            host: "cec.example.net".into(),
            port: 443,
        };
        let plain = PublicOrigin {
            origin: "https://chat.example.com",
            restore_prefix: None,
        };
        let demo = PublicOrigin {
            origin: "https://chat.example.com",
            restore_prefix: Some("/demo/"),
        };
        let cases = [
            (
                "https://cec.example.net/service-cloud/x?a=1",
                &plain,
                Some("https://chat.example.com/service-cloud/x?a=1"),
            ),
            (
                "https://CEC.example.net:443/a#frag",
                &plain,
                Some("https://chat.example.com/a#frag"),
            ),
            (
                "https://cec.example.net",
                &plain,
                Some("https://chat.example.com/"),
            ),
            (
                "https://cec.example.net/x",
                &demo,
                Some("https://chat.example.com/demo/x"),
            ),
            ("/x/y", &demo, Some("/demo/x/y")),
            ("/x/y", &plain, None),
            // Another origin, or another port or scheme of the same host: left alone.
            ("https://other.example.org/x", &plain, None),
            ("https://cec.example.net:8443/x", &plain, None),
            ("http://cec.example.net/x", &plain, None),
            ("//cec.example.net/x", &plain, None),
            ("relative/path", &plain, None),
            // Found by the `response_rewrite` fuzz target: characters `http::Uri` refuses
            // left the Location naming the upstream.
            (
                "https://cec.example.net/3>80}|c\"q",
                &plain,
                Some("https://chat.example.com/3>80}|c\"q"),
            ),
            (
                "https://cec.example.net?a=1",
                &demo,
                Some("https://chat.example.com/demo/?a=1"),
            ),
            ("https://cec.example.net\\@evil.example/", &plain, None),
            ("https://user@cec.example.net/", &plain, None),
        ];
        for (input, public, want) in cases {
            assert_eq!(location(input, &up, public).as_deref(), want, "{input}");
        }
    }
}
