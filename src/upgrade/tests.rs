//! Which requests upgrade, and which 101 answers open a tunnel.

use super::*;

fn head(fields: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in fields {
        h.append(
            header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    h
}

/// A head as (name, value) fields.
type Fields<'a> = &'a [(&'a str, &'a str)];

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

#[test]
fn the_accept_of_rfc_6455s_example() {
    // RFC 6455 §1.3.
    assert_eq!(accept_for(KEY.as_bytes()), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

#[test]
fn only_websocket_on_a_get_over_http_1_1_upgrades() {
    let ws = [
        ("connection", "Upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-key", KEY),
    ];
    let cases: &[(&str, Method, Version, Fields<'_>, bool)] = &[
        ("websocket", Method::GET, Version::HTTP_11, &ws, true),
        (
            "any case",
            Method::GET,
            Version::HTTP_11,
            &[
                ("connection", "keep-alive, upgrade"),
                ("upgrade", "WebSocket"),
                ("sec-websocket-key", KEY),
            ],
            true,
        ),
        ("POST", Method::POST, Version::HTTP_11, &ws, false),
        ("HTTP/1.0", Method::GET, Version::HTTP_10, &ws, false),
        ("HTTP/2", Method::GET, Version::HTTP_2, &ws, false),
        (
            "h2c",
            Method::GET,
            Version::HTTP_11,
            &[
                ("connection", "Upgrade, HTTP2-Settings"),
                ("upgrade", "h2c"),
                ("http2-settings", "AAMAAABkAAQAAP__"),
                ("sec-websocket-key", KEY),
            ],
            false,
        ),
        (
            "a list",
            Method::GET,
            Version::HTTP_11,
            &[
                ("connection", "upgrade"),
                ("upgrade", "websocket, h2c"),
                ("sec-websocket-key", KEY),
            ],
            false,
        ),
        (
            "two fields",
            Method::GET,
            Version::HTTP_11,
            &[
                ("connection", "upgrade"),
                ("upgrade", "websocket"),
                ("upgrade", "h2c"),
                ("sec-websocket-key", KEY),
            ],
            false,
        ),
        (
            "no Connection: upgrade",
            Method::GET,
            Version::HTTP_11,
            &[
                ("connection", "keep-alive"),
                ("upgrade", "websocket"),
                ("sec-websocket-key", KEY),
            ],
            false,
        ),
        (
            "no key",
            Method::GET,
            Version::HTTP_11,
            &[("connection", "upgrade"), ("upgrade", "websocket")],
            false,
        ),
        (
            "no Upgrade",
            Method::GET,
            Version::HTTP_11,
            &[("connection", "upgrade"), ("sec-websocket-key", KEY)],
            false,
        ),
    ];
    for (what, method, version, fields, upgrades) in cases {
        let got = websocket_key(method, *version, &head(fields));
        assert_eq!(got.is_some(), *upgrades, "{what}");
        if let Some(key) = got {
            assert_eq!(key, KEY, "{what}");
        }
    }
}

#[test]
fn only_the_right_accept_with_upgrade_websocket_opens_the_tunnel() {
    let key = HeaderValue::from_static(KEY);
    let right = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
    let cases: &[(&str, Fields<'_>, bool)] = &[
        (
            "right",
            &[("upgrade", "websocket"), ("sec-websocket-accept", right)],
            true,
        ),
        (
            "any case",
            &[("upgrade", "WEBSOCKET"), ("sec-websocket-accept", right)],
            true,
        ),
        (
            "wrong accept",
            &[
                ("upgrade", "websocket"),
                ("sec-websocket-accept", "dGhlIHNhbXBsZSBub25jZQ=="),
            ],
            false,
        ),
        (
            "accept of another key",
            &[
                ("upgrade", "websocket"),
                ("sec-websocket-accept", "HSmrc0sMlYUkAGmm5OPpG2HaGWk="),
            ],
            false,
        ),
        (
            "accept in another case",
            &[
                ("upgrade", "websocket"),
                ("sec-websocket-accept", "S3PPLMBITXAQ9KYGZZHZRBK+XOO="),
            ],
            false,
        ),
        ("no accept", &[("upgrade", "websocket")], false),
        (
            "two accepts",
            &[
                ("upgrade", "websocket"),
                ("sec-websocket-accept", right),
                ("sec-websocket-accept", right),
            ],
            false,
        ),
        (
            "h2c",
            &[("upgrade", "h2c"), ("sec-websocket-accept", right)],
            false,
        ),
        ("no Upgrade", &[("sec-websocket-accept", right)], false),
    ];
    for (what, fields, opens) in cases {
        assert_eq!(
            upstream_switched_to_websocket(&head(fields), &key),
            *opens,
            "{what}"
        );
    }
}
