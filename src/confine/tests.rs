//! Tables of what the public listeners refuse before routing.

use http::header::{HeaderMap, HeaderValue};
use http::{Method, Uri};

use super::*;

fn names() -> Vec<String> {
    ["chat.example.com", "localhost", "127.0.0.1", "::1"]
        .map(String::from)
        .to_vec()
}

fn hosts(values: &[&str]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for v in values {
        h.append(header::HOST, HeaderValue::from_str(v).unwrap());
    }
    h
}

#[test]
fn methods() {
    for m in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        let m = Method::from_bytes(m.as_bytes()).unwrap();
        assert_eq!(check_method(&m), Ok(()), "{m}");
    }
    assert_eq!(check_method(&Method::TRACE), Err(Refused::Trace));
    for m in ["CONNECT", "PROPFIND", "MKCOL", "BREW", "get"] {
        let m = Method::from_bytes(m.as_bytes()).unwrap();
        assert_eq!(check_method(&m), Err(Refused::UnknownMethod), "{m}");
    }
}

#[test]
fn hosts_from_the_host_header() {
    // (Host headers, expected)
    let cases: &[(&[&str], Result<(), Refused>)] = &[
        (&["chat.example.com"], Ok(())),
        (&["CHAT.Example.COM"], Ok(())),
        (&["chat.example.com:8443"], Ok(())),
        (&["chat.example.com."], Ok(())),
        (&["localhost:443"], Ok(())),
        (&["127.0.0.1"], Ok(())),
        (&["127.0.0.1:8443"], Ok(())),
        (&["[::1]"], Ok(())),
        (&["[::1]:8443"], Ok(())),
        (&["[0:0:0:0:0:0:0:1]:8443"], Ok(())),
        (&["evil.example"], Err(Refused::MisdirectedHost)),
        (&["evil.example:8443"], Err(Refused::MisdirectedHost)),
        (
            &["chat.example.com.evil.example"],
            Err(Refused::MisdirectedHost),
        ),
        (&["example.com"], Err(Refused::MisdirectedHost)),
        (&["127.0.0.2"], Err(Refused::MisdirectedHost)),
        (&["[::2]"], Err(Refused::MisdirectedHost)),
        (&["localhost", "localhost"], Err(Refused::DuplicateHost)),
        (&["localhost", "evil.example"], Err(Refused::DuplicateHost)),
        (&[], Err(Refused::MissingHost)),
        (&[""], Err(Refused::MalformedHost)),
        (&["user@localhost"], Err(Refused::MalformedHost)),
        (&["localhost:port"], Err(Refused::MalformedHost)),
        (&["localhost:99999"], Err(Refused::MalformedHost)),
        (&["localhost:+1"], Err(Refused::MalformedHost)),
        (&["local host"], Err(Refused::MalformedHost)),
        (&["[::1"], Err(Refused::MalformedHost)),
        (&["::1"], Err(Refused::MalformedHost)),
        (&["."], Err(Refused::MalformedHost)),
        // Found by the `request_confine` fuzz target: text after an IPv6 literal was not read.
        (&["[::1]=:4=43"], Err(Refused::MalformedHost)),
        (&["[::1]x"], Err(Refused::MalformedHost)),
        (&["[::1]:"], Ok(())),
    ];
    let origin_form: Uri = "/service-cloud/x".parse().unwrap();
    for (values, want) in cases {
        assert_eq!(
            check_host(&origin_form, &hosts(values), &names()),
            *want,
            "{values:?}"
        );
    }
}

#[test]
fn hosts_from_the_authority() {
    // HTTP/2's :authority (and HTTP/1.1's absolute form) is checked too, as is a Host beside it.
    // (URI, Host headers, expected)
    let cases: &[(&str, &[&str], Result<(), Refused>)] = &[
        ("https://localhost:8443/x", &[], Ok(())),
        ("https://LOCALHOST/x", &[], Ok(())),
        ("https://[::1]:8443/x", &[], Ok(())),
        ("https://127.0.0.1/x", &["127.0.0.1:8443"], Ok(())),
        ("https://evil.example/x", &[], Err(Refused::MisdirectedHost)),
        (
            "https://evil.example/x",
            &["localhost"],
            Err(Refused::MisdirectedHost),
        ),
        (
            "https://localhost/x",
            &["evil.example"],
            Err(Refused::MisdirectedHost),
        ),
        (
            "https://localhost/x",
            &["localhost", "localhost"],
            Err(Refused::DuplicateHost),
        ),
    ];
    for (uri, values, want) in cases {
        let uri: Uri = uri.parse().unwrap();
        assert_eq!(
            check_host(&uri, &hosts(values), &names()),
            *want,
            "{uri} {values:?}"
        );
    }
}

#[test]
fn served_names_for_forwarded_host() {
    let served = |v: &str| is_served(&HeaderValue::from_str(v).unwrap(), &names());
    assert!(served("chat.example.com"));
    assert!(served("Chat.Example.Com:443"));
    assert!(served("[::1]:8443"));
    assert!(!served("evil.example"));
    assert!(!served("chat.example.com, evil.example"));
    assert!(!served(""));
}

#[test]
fn dot_segments_are_refused_in_every_spelling() {
    let refused = [
        "/.",
        "/..",
        "/./",
        "/../",
        "/service-cloud/../admin",
        "/service-cloud/./x",
        "/service-cloud/..",
        "/service-cloud/x/..",
        "/service-cloud/%2e%2e/x",
        "/service-cloud/%2E%2E/x",
        "/service-cloud/.%2e/x",
        "/service-cloud/%2e./x",
        "/service-cloud/%2e/x",
        "/service-cloud/%2E",
        "/service-cloud/..%5cx",
        "/service-cloud/..%5Cx",
        "/service-cloud/x%5c..%5cy",
        "/service-cloud/..\\x",
        "/service-cloud/x\\..",
        "/service-cloud/..%2fx",
        "/service-cloud/..%2Fx",
        "/service-cloud/..;/x",
        "/service-cloud/..;jsessionid=1/x",
        "/service-cloud/.;x/y",
        "/service-cloud/.../x",
        // Found by the request_confine fuzz target's model: `%3b` decodes to `;`.
        "/service-cloud/..%3b/x",
        "/service-cloud/%2e%2E%3Bjsessionid=1/x",
        "/service-cloud/.%3b",
    ];
    for path in refused {
        assert_eq!(check_path(path), Err(Refused::DotSegment), "{path}");
    }
    let kept = [
        "/",
        "",
        "*",
        "/service-cloud/",
        "/service-cloud/webclient/chat_client/js/newThirdPartyClient.js",
        "/service-cloud/.well-known/x",
        "/service-cloud/..x/y",
        "/service-cloud/x../y",
        "/service-cloud/a.b/c",
        "/service-cloud/%2e%2ex",
        "/service-cloud/a%2Fb/c",
        "/service-cloud//x",
        "/service-cloud/%252e%252e/x",
        "/service-cloud/x;y=..",
        "/service-cloud/%2",
        "/service-cloud/%",
    ];
    for path in kept {
        assert_eq!(check_path(path), Ok(()), "{path}");
    }
}

#[test]
fn check_goes_method_then_host_then_path() {
    let uri: Uri = "/../x".parse().unwrap();
    let n = names();
    assert_eq!(
        check(&Method::TRACE, &uri, &hosts(&["evil.example"]), &n),
        Err(Refused::Trace)
    );
    assert_eq!(
        check(&Method::GET, &uri, &hosts(&["evil.example"]), &n),
        Err(Refused::MisdirectedHost)
    );
    assert_eq!(
        check(&Method::GET, &uri, &hosts(&["localhost"]), &n),
        Err(Refused::DotSegment)
    );
    let ok: Uri = "/service-cloud/x".parse().unwrap();
    assert_eq!(check(&Method::GET, &ok, &hosts(&["localhost"]), &n), Ok(()));
}

#[test]
fn host_names_in_canonical_form_borrowed_only_when_already_canonical() {
    use std::borrow::Cow;
    let cases: &[(&str, Option<&str>, bool)] = &[
        ("127.0.0.1:8443", Some("127.0.0.1"), true),
        ("10.0.0.0", Some("10.0.0.0"), true),
        ("chat.example.com", Some("chat.example.com"), true),
        ("chat.example.com.:443", Some("chat.example.com"), true),
        ("Chat.Example.COM", Some("chat.example.com"), false),
        ("[::1]:8443", Some("::1"), false),
        ("[0:0::1]", Some("::1"), false),
        // Not an IP address for the parser (octal-looking octets): a name, refused by the list.
        ("0127.0.0.1", Some("0127.0.0.1"), true),
        ("", None, false),
        ("user@host", None, false),
    ];
    for (raw, want, borrowed) in cases {
        let got = crate::confine::host_name(raw.as_bytes());
        assert_eq!(got.as_deref(), *want, "{raw:?}");
        if let Some(name) = got {
            assert_eq!(matches!(name, Cow::Borrowed(_)), *borrowed, "{raw:?}");
        }
    }
    assert!(!crate::confine::is_served(
        &http::HeaderValue::from_static("0127.0.0.1"),
        &names()
    ));
}
