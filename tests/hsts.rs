//! `server.hsts` through the real server: Strict-Transport-Security on every HTTPS answer
//! (refusals included), never on the admin listener or plain HTTP, and absent without the key.

use crate::support;

use http::{Request, StatusCode, Version};
use hyper_util::rt::TokioExecutor;
use support::*;

#[tokio::test]
async fn hsts_is_on_every_https_answer_and_nowhere_else() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let cfg = base_config(&up.url()).replace(
        "[server]\n",
        "[server]\nhsts = \"max-age=600; includeSubDomains\"\n\
         http_listen = \"127.0.0.1:0\"\nhttp_redirect = false\n",
    );
    let gw = Gateway::start(&ca, &cfg).await;
    let want = "max-age=600; includeSubDomains";
    let h1 = client(&ca, false);
    for (path, status) in [
        ("/service-cloud/x", StatusCode::OK),
        ("/nothing/here", StatusCode::NOT_FOUND),
    ] {
        let got = get(&h1, &gw.url(path)).await;
        assert_eq!(got.status, status, "{path}");
        assert_eq!(got.headers["strict-transport-security"], want, "{path}");
    }
    let h2 = client(&ca, true);
    let got = get(&h2, &gw.url("/service-cloud/x")).await;
    assert_eq!(got.version, Version::HTTP_2);
    assert_eq!(got.headers["strict-transport-security"], want);
    for head in [
        "GET /service-cloud/x HTTP/1.1\r\nHost: evil.example",
        "GET /service-cloud/../x HTTP/1.1\r\nHost: localhost",
        "TRACE /service-cloud/x HTTP/1.1\r\nHost: localhost",
    ] {
        let got = raw(&ca, &gw, head).await;
        assert!(got.status >= 400, "{head}: {got:?}");
        assert_eq!(
            got.header("strict-transport-security"),
            Some(want),
            "{head}"
        );
    }

    // Not on the admin listener, not on plain HTTP.
    let plain: hyper_util::client::legacy::Client<_, TestBody> =
        hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http();
    let admin = format!("http://{}/healthz", gw.admin.unwrap());
    let http = format!(
        "http://localhost:{}/service-cloud/x",
        gw.http.unwrap().port()
    );
    for url in [admin, http] {
        let resp = plain
            .request(Request::get(&url).body(body("")).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{url}");
        assert!(
            !resp.headers().contains_key("strict-transport-security"),
            "{url}"
        );
    }

    // The plain-HTTP proxy is confined too.
    let url = format!(
        "http://127.0.0.1:{}/service-cloud/x",
        gw.http.unwrap().port()
    );
    let req = Request::get(&url).header("host", "evil.example");
    let resp = plain.request(req.body(body("")).unwrap()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::MISDIRECTED_REQUEST);
    assert!(!resp.headers().contains_key("strict-transport-security"));
    assert_eq!(
        up.requests().len(),
        3,
        "two over HTTPS, one over plain HTTP, no refused one"
    );

    // Without the key, no header.
    let plain_gw = Gateway::start(&ca, &base_config(&up.url())).await;
    let got = get(&h1, &plain_gw.url("/service-cloud/x")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(!got.headers.contains_key("strict-transport-security"));
}
