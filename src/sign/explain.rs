//! `cec-gateway sign --explain`: every intermediate text of a signature, laid out so an operator
//! can compare it byte by byte with what the vendor's Java sample prints. Never the secret, never
//! the signingKey (it is as good as the secret for one timestamp).

use sha2::{Digest, Sha256};

use super::Signed;

/// Marks the end of a line that is followed by one `\n` byte in the canonical request.
const NEWLINE_MARK: &str = "\\n";

/// A multi-line report of `signed`.
pub fn explain(signed: &Signed) -> String {
    let lines: Vec<&str> = signed.canonical_request.split('\n').collect();
    let last = lines.len().saturating_sub(1);
    let mut out = format!(
        "payload:\n  {payload}\n\
         content-length: {len}\n\
         authStringPrefix:\n  {prefix}\n\
         canonicalRequest ({bytes} bytes, {count} lines; {NEWLINE_MARK} marks each \"\\n\" byte, the last line has none;\n  \
         the vendor's Java sample uses System.lineSeparator(), which is \"\\r\\n\" on Windows):\n",
        payload = signed.payload,
        len = signed.payload.len(),
        prefix = signed.auth_string_prefix,
        bytes = signed.canonical_request.len(),
        count = lines.len(),
    );
    for (i, line) in lines.iter().enumerate() {
        let mark = if i == last { "" } else { NEWLINE_MARK };
        out.push_str(&format!("  {}| {line}{mark}\n", i + 1));
    }
    out.push_str(&format!(
        "sha256(canonicalRequest): {}\nthirdPartAuthorization:\n  {}\n",
        hex::encode(Sha256::digest(signed.canonical_request.as_bytes())),
        signed.authorization
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretKey;
    use crate::sign::{Fields, sign};

    #[test]
    fn explain_shows_every_step_and_no_secret() {
        let secret = SecretKey::signing("abcDEF123456").unwrap();
        let fields = Fields {
            third_user_name: "Tom",
            third_user_id: "10010001",
            tenant_space_id: "202007159031",
            channel_config_id: "817854979183314945",
        };
        let signed = sign(
            "POST",
            "/service-cloud/webclient/chat_client/js/newThirdPartyClient.js",
            &fields,
            &secret,
            "2024-08-19T08:30:00.000Z",
        );
        let text = explain(&signed);
        let expected = r#"payload:
  {"thirdUserName":"Tom","thirdUserId":"10010001","tenantSpaceId":"202007159031","channelConfigId":"817854979183314945"}
content-length: 118
authStringPrefix:
  auth-v2/817854979183314945/2024-08-19T08:30:00.000Z/content-length;content-type
canonicalRequest ("#;
        assert!(text.starts_with(expected), "{text}");
        for line in [
            "  1| POST\\n\n",
            "  2| /service-cloud/webclient/chat_client/js/newThirdPartyClient.js\\n\n",
            "  3| content-length;content-type\\n\n",
            "  4| content-length:118\\n\n",
            "  5| content-type:application%2Fjson%3Bcharset%3DUTF-8\\n\n",
            "  6| %7B%22thirdUserName%22%3A%22Tom%22%2C",
            "0f20c61518fc886c85e8b430e1dae7be079e2761e05979263e82e30772b788fd\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        // The last line has no newline mark.
        assert!(text.contains("%22817854979183314945%22%7D\n"), "{text}");
        assert!(!text.contains("abcDEF123456"));
        // Nor the signingKey, hex(HMAC-SHA256(secret, authStringPrefix)).
        let signing_key = {
            use hmac::{Hmac, Mac};
            let mut mac = Hmac::<Sha256>::new_from_slice(b"abcDEF123456").unwrap();
            mac.update(signed.auth_string_prefix.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        };
        assert!(!text.contains(&signing_key));
        assert!(!format!("{signed:?}").contains(&signing_key));
    }
}
