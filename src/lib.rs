//! `affine`: the library behind `af`, the validator and miner toolkit for Affine (Bittensor
//! subnet 120).
//!
//! # Layout
//!
//! - [`chain`]: keys, wallets and signatures (bittensor-compatible), weight normalisation.
//! - [`cli`]: clap definitions only; nothing below `commands` imports it.
//! - [`settings`]: resolves flags > environment > `.env` > defaults into validated settings.
//! - [`env_vars`]: every environment variable `af` reads.
//! - [`telemetry`]: the tracing subscriber and the `-v` mapping.
//! - [`shutdown`]: SIGINT/SIGTERM into one cancellation token.
//! - [`error`]: exit codes and error rendering.
//! - [`output`]: the only code that writes results to stdout (tables, JSON, progress).
//! - [`model`]: wire types (result records) and the lenient compact reader the scorer uses.
//! - [`envs`]: the environment registry (ids, task ranges, score ranges).
//! - [`store`]: the result-store key layout, replay directories, streaming shard reads.
//! - [`scoring`]: pure scoring (aggregation, Beta intervals, Pareto dominance, weights); no I/O.
//! - [`summary`]: the validator summary table and its JSON document.
//! - [`replay`]: an offline scoring pass over a replay directory.
//! - [`commands`]: one module per subcommand, wiring settings to the modules above.
//!
//! Data flows one way: store -> scoring -> summary/output.

pub mod chain;
pub mod cli;
pub mod commands;
pub mod env_vars;
pub mod envs;
pub mod error;
pub mod model;
pub mod output;
pub mod replay;
pub mod scoring;
pub mod settings;
pub mod shutdown;
pub mod store;
pub mod summary;
pub mod telemetry;

pub use error::ExitStatus;
