//! The enterprise's sample page server: `/` is the vendor's Authorization-mode `index.html`
//! rewritten without any secret. It is served over plain HTTP on loopback as the gateway's `site`
//! upstream (the same-origin flow), and optionally over HTTPS on its own origin for the
//! cross-origin flow (`?gateway=https://host:port`).

use std::sync::Arc;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::assets;
use super::serve::{Body, serve};

/// The page's user: `thirdUserName`.
pub const THIRD_USER_NAME: &str = "Demo Guest";
/// The page's user: `thirdUserId`.
pub const THIRD_USER_ID: &str = "demo-user-0001";
/// The tenant space of the vendor's examples.
pub const TENANT_SPACE_ID: &str = "202007159031";
/// The WEB channel of the vendor's examples (`channelConfigId`, the accessKey).
pub const CHANNEL_CONFIG_ID: &str = "817854979183314945";

/// The sample page, rendered once with the constants above.
#[derive(Clone)]
pub(crate) struct Site {
    index: Bytes,
}

impl Default for Site {
    fn default() -> Self {
        Self::new()
    }
}

impl Site {
    pub(crate) fn new() -> Self {
        let index = assets::fill(
            assets::INDEX_HTML,
            &[
                ("THIRD_USER_NAME", THIRD_USER_NAME),
                ("THIRD_USER_ID", THIRD_USER_ID),
                ("TENANT_SPACE_ID", TENANT_SPACE_ID),
                ("CHANNEL_CONFIG_ID", CHANNEL_CONFIG_ID),
            ],
        );
        Self {
            index: Bytes::from(index),
        }
    }

    /// The rendered `index.html`.
    #[cfg(test)]
    fn index_html(&self) -> &[u8] {
        &self.index
    }

    /// Serves the page on `listener` (over TLS when `tls` is given) until `stop` flips.
    pub(crate) async fn serve(
        self,
        listener: TcpListener,
        tls: Option<Arc<ServerConfig>>,
        stop: watch::Receiver<bool>,
    ) {
        let handler = move |req| {
            let response = self.handle(&req);
            async move { response }
        };
        serve(listener, tls, handler, stop).await;
    }

    /// `GET`/`HEAD` `/` or `/index.html` → the page; other paths 404, other methods 405.
    pub(crate) fn handle<B>(&self, req: &Request<B>) -> Response<Body> {
        let head = req.method() == Method::HEAD;
        if !head && req.method() != Method::GET {
            return plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        }
        match req.uri().path() {
            "/" | "/index.html" => {
                let body = if head {
                    Bytes::new()
                } else {
                    self.index.clone()
                };
                let mut response = Response::new(Full::new(body));
                let headers = response.headers_mut();
                headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/html;charset=UTF-8"),
                );
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                response
            }
            _ => plain(StatusCode::NOT_FOUND, "not found"),
        }
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain;charset=UTF-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, path: &str) -> Request<()> {
        Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .expect("valid request")
    }

    #[test]
    fn serves_the_page_without_secrets() {
        let site = Site::new();
        let response = site.handle(&request(Method::GET, "/?gateway=https://localhost:8443"));
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[CONTENT_TYPE], "text/html;charset=UTF-8");
        let page = std::str::from_utf8(site.index_html()).expect("UTF-8");
        for expected in [
            r#"const userName = "Demo Guest";"#,
            r#"const userId = "demo-user-0001";"#,
            r#"const tenantSpaceId = "202007159031";"#,
            r#"const configId = "817854979183314945";"#,
            "/webclient/chat_client/js/newThirdPartyClient.js?&t=",
            "window.CEC_CONTEXT_PATH = $ContextPath;",
            "/resource.root/cobrowse/sdk/cobrowse.js",
            "/webclient/chat_client/js/cobrowseCommon.js",
            r#"credentials: "include""#,
            "application/x-www-form-urlencoded; charset=UTF-8",
        ] {
            assert!(page.contains(expected), "page lacks {expected:?}");
        }
        assert!(!page.contains("__CEC_"), "every placeholder is filled");
        assert!(
            !page.contains("thirdPartAuthorization\"] ="),
            "the page does not sign"
        );
        assert!(!page.contains("secretKey\"] ="), "the page holds no secret");
    }

    #[test]
    fn other_paths_and_methods() {
        let site = Site::new();
        for (method, path, status) in [
            (Method::GET, "/index.html", StatusCode::OK),
            (Method::HEAD, "/", StatusCode::OK),
            (Method::GET, "/favicon.ico", StatusCode::NOT_FOUND),
            (Method::POST, "/", StatusCode::METHOD_NOT_ALLOWED),
        ] {
            let response = site.handle(&request(method.clone(), path));
            assert_eq!(response.status(), status, "{method} {path}");
        }
    }
}
