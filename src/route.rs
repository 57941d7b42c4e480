//! The route table: longest prefix wins. Built once per configuration; `find` is a scan over a
//! handful of prefixes sorted longest first, with no allocation. A route may say who may call
//! it ([`Route::admit`]: `allowed_callers`, the caller key).

use std::net::IpAddr;

use http::HeaderMap;
use http::header;
use ipnet::IpNet;

use crate::config::{HostMode, RouteConfig};
use crate::headers;
use crate::secret::SecretKey;

/// Why a caller was refused before anything was forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CallerRefused {
    /// The client address is not in the route's `allowed_callers`.
    #[error("this address may not use this route")]
    Address,
    #[error("this route needs Authorization: Bearer <caller key>")]
    Key,
}

/// One route, ready for the request path.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    /// Position in the configuration's `[[routes]]` (for metrics and logs).
    pub index: usize,
    pub prefix: String,
    pub upstream: usize,
    pub strip_prefix: bool,
    pub host: HostMode,
    /// Empty: any client address.
    pub allowed_callers: Vec<IpNet>,
    pub caller_key: Option<SecretKey>,
}

impl Route {
    /// Whether [`Route::admit`] has anything to check.
    pub(crate) fn restricts_callers(&self) -> bool {
        !self.allowed_callers.is_empty() || self.caller_key.is_some()
    }

    /// Lets the caller at `client` (the client address, `headers::client_address`) through,
    /// or says why not: the address first, then the key, which is then taken off the request
    /// (it is the caller's credential, not the upstream's).
    pub(crate) fn admit(&self, client: IpAddr, h: &mut HeaderMap) -> Result<(), CallerRefused> {
        let client = client.to_canonical();
        if !self.allowed_callers.is_empty()
            && !self.allowed_callers.iter().any(|n| n.contains(&client))
        {
            return Err(CallerRefused::Address);
        }
        if let Some(key) = &self.caller_key {
            if !headers::bearer_is(h, key) {
                return Err(CallerRefused::Key);
            }
            h.remove(header::AUTHORIZATION);
        }
        Ok(())
    }

    /// The path and query to send upstream, from the client's path-and-query as received
    /// (byte for byte). With `strip_prefix`, `/demo/x?q` becomes `/x?q`; otherwise unchanged.
    pub(crate) fn upstream_path_and_query<'a>(
        &self,
        path_and_query: &'a str,
    ) -> std::borrow::Cow<'a, str> {
        if !self.strip_prefix {
            return path_and_query.into();
        }
        // The prefix ends with '/': keep that slash as the start of the upstream path.
        let keep_from = self.prefix.len() - 1;
        match path_and_query.get(keep_from..) {
            Some(rest) if rest.starts_with('/') => rest.into(),
            // "/demo" or "/demo?q": the prefix without its slash.
            Some(rest) => format!("/{rest}").into(),
            None => "/".into(),
        }
    }
}

/// Routes sorted by prefix length, longest first.
#[derive(Debug, Clone)]
pub(crate) struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    pub(crate) fn new(config: &[RouteConfig]) -> Self {
        let mut routes: Vec<Route> = config
            .iter()
            .enumerate()
            .map(|(index, r)| Route {
                index,
                prefix: r.prefix.clone(),
                upstream: r.upstream,
                strip_prefix: r.strip_prefix,
                host: r.host,
                allowed_callers: r.allowed_callers.clone(),
                caller_key: r.caller_key.as_ref().map(|k| k.key.clone()),
            })
            .collect();
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Self { routes }
    }

    /// The route whose prefix is the longest match for `path`. `/service-cloud` (the prefix
    /// without its final slash) matches `/service-cloud/` too.
    pub(crate) fn find(&self, path: &str) -> Option<&Route> {
        self.routes.iter().find(|r| {
            path.starts_with(r.prefix.as_str()) || path == &r.prefix[..r.prefix.len() - 1]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        let r = |prefix: &str, upstream, strip_prefix| RouteConfig {
            prefix: prefix.into(),
            upstream,
            strip_prefix,
            host: HostMode::Upstream,
            allowed_callers: Vec::new(),
            caller_key: None,
        };
        RouteTable::new(&[
            r("/", 1, false),
            r("/service-cloud/", 0, false),
            r("/demo/", 0, true),
            r("/service-cloud/webclient/", 2, false),
        ])
    }

    #[test]
    fn longest_prefix_wins() {
        let t = table();
        let cases = [
            ("/service-cloud/webclient/chat_client/js/x.js", Some(3)),
            (
                "/service-cloud/resource.root/cobrowse/sdk/cobrowse.js",
                Some(1),
            ),
            ("/service-cloud", Some(1)),
            ("/service-cloudx", Some(0)),
            ("/demo/a", Some(2)),
            ("/demo", Some(2)),
            ("/", Some(0)),
            ("/anything", Some(0)),
        ];
        for (path, want) in cases {
            assert_eq!(t.find(path).map(|r| r.index), want, "{path}");
        }
    }

    #[test]
    fn no_catch_all_means_no_match() {
        let t = RouteTable::new(&[RouteConfig {
            prefix: "/service-cloud/".into(),
            upstream: 0,
            strip_prefix: false,
            host: HostMode::Upstream,
            allowed_callers: Vec::new(),
            caller_key: None,
        }]);
        assert!(t.find("/other").is_none());
        assert!(t.find("/service-clou").is_none());
    }

    #[test]
    fn upstream_path_is_byte_exact() {
        let t = table();
        let cases = [
            // The FAQ's slash pitfall cannot happen: the path is passed as is.
            (
                "/service-cloud/webclient/x?&t=1",
                "/service-cloud/webclient/x?&t=1",
            ),
            (
                "/service-cloud/a%2Fb//c?q=%E4%B8%AD",
                "/service-cloud/a%2Fb//c?q=%E4%B8%AD",
            ),
            ("/demo/x?y=1", "/x?y=1"),
            ("/demo/", "/"),
            ("/demo", "/"),
            ("/demo?y", "/?y"),
            ("/demo/a/b/", "/a/b/"),
        ];
        for (pq, want) in cases {
            let path = pq.split('?').next().unwrap();
            let route = t.find(path).unwrap();
            assert_eq!(route.upstream_path_and_query(pq), want, "{pq}");
        }
    }

    #[test]
    fn callers_are_checked_by_address_then_key() {
        let key = SecretKey::caller(&"c".repeat(32)).unwrap();
        let mut route = table().find("/demo/").unwrap().clone();
        let mut h = HeaderMap::new();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(!route.restricts_callers());
        assert_eq!(route.admit(ip("192.0.2.1"), &mut h), Ok(()));
        route.allowed_callers = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            route.admit(ip("192.0.2.1"), &mut h),
            Err(CallerRefused::Address)
        );
        assert_eq!(route.admit(ip("::ffff:10.1.2.3"), &mut h), Ok(()));
        route.caller_key = Some(key);
        let bearer = format!("Bearer {}", "c".repeat(32));
        h.insert(header::AUTHORIZATION, bearer.parse().unwrap());
        assert_eq!(
            route.admit(ip("192.0.2.1"), &mut h),
            Err(CallerRefused::Address)
        );
        assert_eq!(route.admit(ip("10.1.2.3"), &mut h), Ok(()));
        assert!(
            h.get(header::AUTHORIZATION).is_none(),
            "the caller key is not forwarded"
        );
        assert_eq!(route.admit(ip("10.1.2.3"), &mut h), Err(CallerRefused::Key));
        h.insert(header::AUTHORIZATION, "Bearer wrong".parse().unwrap());
        assert_eq!(route.admit(ip("10.1.2.3"), &mut h), Err(CallerRefused::Key));
    }
}
