//! nfp-node: the secure messaging node of a National Focal Point (NFP) for
//! child victims of trafficking.
//!
//! The crate is a pure protocol core ([`protocol`]) wrapped by thin shells:
//! the sled store ([`store`]), the QUIC transport ([`transport`]), the
//! delivery queue ([`outbox`]), the serving process ([`node`]), the local
//! HTTP API ([`api`]) and the command line ([`cli`]). See
//! `docs/architecture.md` for the layers and a message's path through them.
#![forbid(unsafe_code)]

pub mod api;
pub mod bundle;
pub mod cli;
pub mod config;
pub mod home;
pub mod node;
pub mod outbox;
pub mod protocol;
pub mod store;
pub mod transport;
pub mod users;
