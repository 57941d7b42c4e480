//! `cec-gateway demo`: the whole web-chat flow on one machine, without a CEC account.
//!
//! So far: the mock CEC's auth-v2 verifier ([`verify`]).

pub mod verify;
