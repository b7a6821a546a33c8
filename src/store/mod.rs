//! Result storage: the object-key layout, window shards and the replay directory format.
//!
//! This part reads shards from a local replay directory; the S3/R2, public-HTTP and local-store
//! backends build on the same key layout ([`keys`]) and the same streaming reader
//! ([`dataset`]).

pub mod dataset;
pub mod error;
pub mod keys;
pub mod replay;

pub use error::Error;
