//! The plain-HTTP listener with `http_redirect`: every request gets a 308 to the same path on
//! https (except `/healthz`), naming one of `server.hostnames`, never an arbitrary `Host`.

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::admin::text;
use crate::body::{ProxyBody, empty};
use crate::config::Config;

/// The plain-HTTP listener with `http_redirect`: 308 to the same path on https, except
/// `/healthz`. The redirect names one of `server.hostnames` (the client's `Host` when it is
/// one of them), never an arbitrary host from the request.
pub(crate) fn redirect(
    config: &Config,
    req: &Request<Incoming>,
    https_port: u16,
) -> Response<ProxyBody> {
    if req.uri().path() == "/healthz" {
        return text(StatusCode::OK, "ok\n");
    }
    let hostnames = &config.server.hostnames;
    let requested = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| host_without_port(h).to_ascii_lowercase());
    let host = requested
        .filter(|h| hostnames.contains(h))
        .unwrap_or_else(|| hostnames[0].clone());
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let pq = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let location = format!("https://{host}{port}{pq}");
    let mut resp = Response::new(empty());
    *resp.status_mut() = StatusCode::PERMANENT_REDIRECT;
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

fn host_without_port(h: &str) -> &str {
    if let Some(rest) = h.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    h.rsplit_once(':').map_or(h, |(host, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            host
        } else {
            h
        }
    })
}

#[cfg(test)]
mod tests {
    use super::host_without_port;

    #[test]
    fn hosts() {
        assert_eq!(host_without_port("example.com:8080"), "example.com");
        assert_eq!(host_without_port("example.com"), "example.com");
        assert_eq!(host_without_port("[::1]:8080"), "::1");
        assert_eq!(host_without_port("127.0.0.1"), "127.0.0.1");
    }
}
