//! CORS for an enterprise page on another origin. When `cors.allowed_origins` is empty the
//! gateway does no CORS at all (upstream headers pass through). Otherwise the gateway owns the
//! policy: it answers preflights at the edge, drops any `Access-Control-*` header an upstream
//! sent, and adds its own only for an allowed `Origin` (echoed, with credentials).

use std::time::Duration;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};

use crate::config::{CorsConfig, parse_origin};

/// What to do about CORS for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cors {
    /// CORS is off (no allowed origins): touch nothing.
    Off,
    /// On, and the request's origin is allowed: echo it.
    Allowed(HeaderValue),
    /// On, and there is no `Origin` or it is not allowed: no CORS headers.
    NotAllowed,
}

/// Decides for a request with headers `h`.
pub(crate) fn decide(cfg: &CorsConfig, h: &HeaderMap) -> Cors {
    if cfg.allowed_origins.is_empty() {
        return Cors::Off;
    }
    let Some(origin) = h.get(header::ORIGIN) else {
        return Cors::NotAllowed;
    };
    let allowed = origin
        .to_str()
        .ok()
        .and_then(parse_origin)
        .is_some_and(|o| cfg.allowed_origins.iter().any(|a| *a == o.to_url()));
    if allowed {
        Cors::Allowed(origin.clone())
    } else {
        Cors::NotAllowed
    }
}

/// Whether a request is a CORS preflight.
pub(crate) fn is_preflight(method: &Method, h: &HeaderMap) -> bool {
    method == Method::OPTIONS
        && h.contains_key(header::ORIGIN)
        && h.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// Status and headers of the edge's answer to a preflight.
pub(crate) fn preflight(
    decision: &Cors,
    request: &HeaderMap,
    max_age: Duration,
) -> (StatusCode, HeaderMap) {
    let mut h = HeaderMap::new();
    h.insert(
        header::VARY,
        HeaderValue::from_static(
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        ),
    );
    if let Cors::Allowed(origin) = decision {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        let method = request
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .filter(|m| {
                m.to_str()
                    .is_ok_and(|m| Method::from_bytes(m.as_bytes()).is_ok())
            })
            .cloned()
            .unwrap_or(HeaderValue::from_static("GET, POST"));
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, method);
        if let Some(req_headers) = request
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .filter(|v| is_token_list(v))
        {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, req_headers.clone());
        }
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from(max_age.as_secs()),
        );
    }
    (StatusCode::NO_CONTENT, h)
}

/// Applies the decision to a response going to the browser.
pub(crate) fn apply(decision: &Cors, h: &mut HeaderMap) {
    if *decision == Cors::Off {
        return;
    }
    for name in [
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        header::ACCESS_CONTROL_ALLOW_METHODS,
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        header::ACCESS_CONTROL_MAX_AGE,
    ] {
        h.remove(name);
    }
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Cors::Allowed(origin) = decision {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("X-Request-Id"),
        );
    }
}

fn is_token_list(v: &HeaderValue) -> bool {
    v.as_bytes()
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || b"-_,. ".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(origins: &[&str]) -> CorsConfig {
        CorsConfig {
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            max_age: Duration::from_secs(600),
        }
    }

    fn with_origin(o: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        h
    }

    #[test]
    fn decisions() {
        let on = cfg(&["https://www.example.com", "https://shop.example.com:8443"]);
        let cases = [
            (
                "https://www.example.com",
                Cors::Allowed(HeaderValue::from_static("https://www.example.com")),
            ),
            // Case and default port normalise.
            (
                "https://WWW.example.com:443",
                Cors::Allowed(HeaderValue::from_static("https://WWW.example.com:443")),
            ),
            (
                "https://shop.example.com:8443",
                Cors::Allowed(HeaderValue::from_static("https://shop.example.com:8443")),
            ),
            ("https://shop.example.com", Cors::NotAllowed),
            ("http://www.example.com", Cors::NotAllowed),
            ("https://www.example.com.evil.net", Cors::NotAllowed),
            ("null", Cors::NotAllowed),
        ];
        for (origin, want) in cases {
            assert_eq!(decide(&on, &with_origin(origin)), want, "{origin}");
        }
        assert_eq!(decide(&on, &HeaderMap::new()), Cors::NotAllowed);
        assert_eq!(
            decide(&cfg(&[]), &with_origin("https://www.example.com")),
            Cors::Off
        );
    }

    #[test]
    fn preflight_answers() {
        let mut req = with_origin("https://www.example.com");
        req.insert(
            header::ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_static("POST"),
        );
        req.insert(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            HeaderValue::from_static("content-type, x-requested-with"),
        );
        assert!(is_preflight(&Method::OPTIONS, &req));
        assert!(!is_preflight(&Method::POST, &req));

        let allowed = decide(&cfg(&["https://www.example.com"]), &req);
        let (status, h) = preflight(&allowed, &req, Duration::from_secs(600));
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(
            h[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://www.example.com"
        );
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_METHODS], "POST");
        assert_eq!(
            h[header::ACCESS_CONTROL_ALLOW_HEADERS],
            "content-type, x-requested-with"
        );
        assert_eq!(h[header::ACCESS_CONTROL_MAX_AGE], "600");

        let (_, h) = preflight(&Cors::NotAllowed, &req, Duration::from_secs(600));
        assert!(!h.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
    }

    #[test]
    fn responses_get_only_the_gateways_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        apply(&Cors::NotAllowed, &mut h);
        assert!(!h.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
        assert_eq!(h[header::VARY], "Origin");

        let mut h = HeaderMap::new();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        apply(
            &Cors::Allowed(HeaderValue::from_static("https://a.example")),
            &mut h,
        );
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://a.example");
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");

        let mut h = HeaderMap::new();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        apply(&Cors::Off, &mut h);
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    }
}
