//! The API Fabric token exchange on an upstream's own pooled client: the request the
//! configuration describes (`crate::fabric::token_request`), sent under the upstream's response
//! deadline, and its answer read (capped) and parsed. Used by the request path (through the
//! upstream's `crate::fabric::TokenCache`) and by `check --probe`.

use http::StatusCode;
use http_body_util::{BodyExt, Limited};

use super::Upstream;
use crate::config::{FABRIC_MAX_TOKEN_ANSWER, FabricAuth};
use crate::error::ProxyError;
use crate::fabric::{Answer, TokenError, parse_answer, token_request};

impl Upstream {
    /// One `tokenByAkSk` exchange with `auth`'s credentials.
    pub(crate) async fn fetch_token(&self, auth: &FabricAuth) -> Result<Answer, TokenError> {
        let req = token_request(auth, &self.uri_scheme, &self.authority);
        let exchange = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| TokenError::Send(Box::new(ProxyError::from_client(e))))?;
            if resp.status() != StatusCode::OK {
                return Err(TokenError::Status(resp.status().as_u16()));
            }
            let body = Limited::new(resp.into_body(), FABRIC_MAX_TOKEN_ANSWER)
                .collect()
                .await
                .map_err(|_| TokenError::Answer("the body could not be read whole"))?;
            parse_answer(&body.to_bytes())
        };
        tokio::time::timeout(self.response_timeout, exchange)
            .await
            .unwrap_or(Err(TokenError::Timeout))
    }
}
