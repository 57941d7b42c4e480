//! The route table: longest prefix wins. Built once per configuration; `find` is a scan over a
//! handful of prefixes sorted longest first, with no allocation.

use crate::config::{HostMode, RouteConfig};

/// One route, ready for the request path.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    /// Position in the configuration's `[[routes]]` (for metrics and logs).
    pub index: usize,
    pub prefix: String,
    pub upstream: usize,
    pub strip_prefix: bool,
    pub host: HostMode,
}

impl Route {
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
}
