//! Endpoints the gateway answers itself on the public listener: the vendor-compatible
//! signature endpoint (`signing.authorization_endpoint`) and Token mode's validation endpoint.

use http::{Request, Response};
use hyper::body::Incoming;

use crate::body::ProxyBody;
use crate::forward::{ConnInfo, Gateway};

/// `Some(response)` when the request is for a local endpoint.
pub async fn local(gw: &Gateway, req: &mut Request<Incoming>, conn: ConnInfo) -> Option<Response<ProxyBody>> {
    let _ = (gw, req, conn);
    None
}

/// `POST /tokens` on the admin listener.
pub async fn mint_tokens(gw: &Gateway, req: Request<Incoming>, conn: ConnInfo) -> Response<ProxyBody> {
    let _ = (gw, req, conn);
    crate::forward::json_response(http::StatusCode::NOT_FOUND, crate::error::json_body("token mode is off", ""))
}
