//! Evaluation environments: the registry of the environments validators score.
//!
//! Later parts add the Affinetes protocol client, the Docker and URL backends and the native
//! SAT/ABD/DED server; the registry is the one place that knows which environments exist.

pub mod registry;

pub use registry::{ENVIRONMENTS, EnvSpec, env_index, env_spec};
