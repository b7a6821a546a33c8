//! Evaluation environments: the Affinetes protocol types, the native SAT/ABD/DED environment
//! with its program sandbox, and the backends that run environments in containers or call them
//! by URL. The registry of the environments validators score (ids, ranges, payloads, images) is
//! pure data in [`crate::environments`], below this module.
//!
//! - [`protocol`]: the Affinetes HTTP bodies (server and client side).
//! - [`affine`]: `evaluate` for SAT, ABD and DED, in-process.
//! - [`sat`], [`abd`], [`ded`]: generation and scoring of each task; [`mt`] is `CPython`'s RNG.
//! - [`dataset`]: the ABD/DED dataset in the R2 layout.
//! - [`sandbox`], [`program`]: confined execution of model-written programs.
//! - [`server`]: the `function_based` HTTP server (`af env serve`).
//! - [`client`]: the Affinetes protocol client; [`url`] and [`docker`] are its two backends,
//!   [`remote`] evaluates through either; [`image`] assembles the `af env serve` image;
//!   [`ssh`] tunnels to remote Docker hosts, [`runtime`] detects host/dind/dood.

pub mod abd;
pub mod affine;
pub mod client;
pub mod dataset;
pub mod ded;
pub mod docker;
pub mod image;
pub mod mt;
pub mod program;
pub mod protocol;
pub mod pytext;
pub mod remote;
pub mod runtime;
pub mod sandbox;
pub mod sat;
pub mod server;
pub mod ssh;
pub mod url;

/// Failures of an `evaluate` call that are the environment's, not the model's (the
/// reference answers them with HTTP 500).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `task_type` is not sat, abd or ded.
    #[error("Unknown task: {0}. Available: ['sat', 'abd', 'ded']")]
    UnknownTask(String),
    /// The dataset could not provide the row.
    #[error(transparent)]
    Dataset(#[from] dataset::Error),
    /// The sandbox could not run a program.
    #[error(transparent)]
    Sandbox(#[from] sandbox::Error),
}

impl Error {
    /// Whether the caller asked for something that does not exist (bad task type or id).
    #[must_use]
    pub fn is_user_input(&self) -> bool {
        matches!(self, Self::UnknownTask(_) | Self::Dataset(dataset::Error::OutOfRange { .. }))
    }
}

impl crate::error::Classify for Error {
    fn kind(&self) -> crate::error::Kind {
        crate::error::Kind::usage_if(self.is_user_input())
    }
}
