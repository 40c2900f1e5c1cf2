//! Network primitives the adapters share.

pub mod deadline;
pub mod dns;
