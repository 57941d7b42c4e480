//! What `cec-gateway demo` tells the person who started it: what to open, what to look at.

use super::DemoHandle;
use super::gateway_config::{CA_FILE, CERT_FILE, CONFIG_FILE};
use super::mock_fabric::AGENTS_PATH;
use super::site::THIRD_USER_NAME;

/// A multi-line banner for a running demo. Never contains the channel secret.
pub fn banner(demo: &DemoHandle) -> String {
    let mut b: Vec<String> = Vec::new();
    let g = &demo.gateway_url;
    b.push(
        "cec-gateway demo: a mock CEC, the vendor's sample page and the gateway, on this machine."
            .to_owned(),
    );
    b.push(String::new());
    b.push(format!("  Open        {g}/"));
    b.push("              the sample page, served through the gateway (same origin)".to_owned());
    if let Some(page) = &demo.page_url {
        b.push(format!("              {page}"));
        b.push(
            "              the same page on another origin; it calls the gateway cross-origin"
                .to_owned(),
        );
        if demo.cors_origins.is_empty() {
            b.push(
                "              (CORS allows no origin: expect the browser to block it)".to_owned(),
            );
        } else {
            b.push(format!(
                "              (CORS allows: {})",
                demo.cors_origins.join(", ")
            ));
        }
    }
    b.push(format!(
        "  Certificates are self-signed for this run: accept the browser's warning for {g}"
    ));
    if demo.page_url.is_some() {
        b.push("  first, then for the cross-origin page.".to_owned());
    }
    b.push(String::new());
    b.push("  What to look at".to_owned());
    b.push(format!("  - the round chat bubble at the bottom right: click it; it says \"connected as {THIRD_USER_NAME}\";"));
    b.push("    send a message and the mock CEC echoes it back through the gateway.".to_owned());
    b.push("  - DevTools > Network > newThirdPartyClient.js: the page posts thirdUserData with no secretKey and".to_owned());
    b.push("    no signature; the gateway adds thirdPartAuthorization, and the mock CEC checks it (401 if wrong).".to_owned());
    b.push("  - DevTools > Application > Cookies: ccmessaging-token belongs to localhost (the gateway), although".to_owned());
    b.push("    the mock CEC set it for its own host, 127.0.0.1.".to_owned());
    b.push(
        "  - the CEC API Fabric without its AK/SK (the gateway holds them), from this machine:"
            .to_owned(),
    );
    b.push(format!(
        "    curl --cacert {}/{CERT_FILE} {g}{AGENTS_PATH}",
        demo.state_dir.display()
    ));
    if let Some(admin) = &demo.admin_url {
        b.push(format!(
            "  - gateway health and metrics: {admin}/healthz  {admin}/metrics"
        ));
    }
    b.push(String::new());
    let dir = demo.state_dir.display();
    b.push(format!(
        "  Mock CEC    {} (trusts only what the gateway signs; its CA: {dir}/{CA_FILE})",
        demo.mock_cec_url
    ));
    b.push(format!(
        "  Config      {dir}/{CONFIG_FILE} (the channel secret is random per run and never shown)"
    ));
    b.push("  Ctrl-C stops the demo.".to_owned());
    b.push(String::new());
    b.join("\n")
}
