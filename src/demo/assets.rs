//! The demo's embedded assets (`src/demo/assets/`, compiled into the binary) and the one
//! templating rule they use: a placeholder written as a JavaScript string literal,
//! `"__CEC_NAME__"`, is replaced by a JSON string that is also safe inside `<script>`.

/// The enterprise sample page (the vendor's Authorization-mode `index.html`, without secret).
pub(crate) const INDEX_HTML: &str = include_str!("assets/index.html");
/// The mock CEC's chat widget, answered to a verified `newThirdPartyClient.js` POST.
pub(crate) const WIDGET_JS: &str = include_str!("assets/widget.js");
/// The mock CEC's Token-mode loader stub (`thirdPartyClient.js`).
pub const TOKEN_LOADER_JS: &str = include_str!("assets/thirdPartyClient.js");
/// Co-browsing stand-ins.
pub(crate) const COBROWSE_JS: &str = include_str!("assets/cobrowse.js");
pub(crate) const COBROWSE_COMMON_JS: &str = include_str!("assets/cobrowseCommon.js");

/// `template` with each `"__CEC_<NAME>__"` literal replaced by its value as a script-safe
/// string, in one pass (a value that looks like a placeholder stays as it is).
pub(crate) fn fill(template: &str, values: &[(&str, &str)]) -> String {
    const OPEN: &str = "\"__CEC_";
    const CLOSE: &str = "__\"";
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find(OPEN) {
        out.push_str(&rest[..start]);
        let after = &rest[start + OPEN.len()..];
        let known = after.find(CLOSE).and_then(|end| {
            let name = &after[..end];
            let value = values.iter().find(|(n, _)| *n == name)?.1;
            Some((value, &after[end + CLOSE.len()..]))
        });
        match known {
            Some((value, tail)) => {
                out.push_str(&js_string(value));
                rest = tail;
            }
            None => {
                out.push_str(OPEN);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `s` as a JavaScript string literal (JSON), with `<`, `>`, `&` and the two line separators
/// escaped, so that no value can close a `<script>` element or break out of the literal.
fn js_string(s: &str) -> String {
    serde_json::Value::from(s)
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_string_cannot_break_out() {
        assert_eq!(js_string("Demo Guest"), r#""Demo Guest""#);
        assert_eq!(
            js_string("</script><b>\"x\"\\\u{2028}&"),
            r#""\u003c/script\u003e\u003cb\u003e\"x\"\\\u2028\u0026""#
        );
    }

    #[test]
    fn fill_replaces_every_placeholder() {
        let text = fill(
            r#"a = "__CEC_A__"; b = "__CEC_B__"; a2 = "__CEC_A__";"#,
            &[("A", "x"), ("B", "<y>")],
        );
        assert_eq!(text, r#"a = "x"; b = "\u003cy\u003e"; a2 = "x";"#);
        // A value is never read as a placeholder; unknown placeholders stay.
        let text = fill(
            r#""__CEC_A__" "__CEC_B__" "__CEC_C__""#,
            &[("A", "__CEC_B__"), ("B", "b")],
        );
        assert_eq!(text, r#""__CEC_B__" "b" "__CEC_C__""#);
    }

    #[test]
    fn templates_have_their_placeholders() {
        assert!(WIDGET_JS.contains(r#""__CEC_THIRD_USER_NAME__""#));
        for name in [
            "THIRD_USER_ID",
            "THIRD_USER_NAME",
            "TENANT_SPACE_ID",
            "CHANNEL_CONFIG_ID",
        ] {
            assert!(
                INDEX_HTML.contains(&format!("\"__CEC_{name}__\"")),
                "{name}"
            );
        }
        assert!(
            !INDEX_HTML.contains("secretKey\"] ="),
            "the page must not set a secretKey"
        );
    }
}
