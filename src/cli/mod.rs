//! contractctl's parts: the bus client and the rendering of answers for people and scripts.

pub mod client;
pub mod output;
