//! Network primitives the adapters share.

pub mod dns;
