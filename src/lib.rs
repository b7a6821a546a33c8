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
//! - [`shutdown`]: SIGINT/SIGTERM into one cancellation token; interruptible waits.
//! - [`error`]: exit codes and error rendering.
//! - [`output`]: the only code that writes results to stdout (tables, JSON, progress).
//! - [`model`]: wire types (result records) and the lenient compact reader the scorer uses.
//! - [`environments`]: the registry of the network's environments (ids, task-id ranges, score
//!   normalisation, payload defaults, images): pure data below `scoring`, `store` and `envs`.
//! - [`envs`]: the Affinetes protocol types, the native SAT/ABD/DED environment and its
//!   program sandbox, the `function_based` server, and the Docker and URL backends.
//! - [`inference`]: the OpenAI-compatible chat client (no retries; errors keep their codes) and
//!   the Chutes management API client.
//! - [`store`]: the result store (S3/R2, public HTTP, local folder): key layout, lossless
//!   compare-and-swap writes, streamed and cached dataset reads, summaries, replay directories.
//! - [`scoring`]: pure scoring (aggregation, Beta intervals, Pareto dominance, weights); no I/O.
//! - [`summary`]: the validator summary table and its JSON document.
//! - [`replay`]: an offline scoring pass over a replay directory.
//! - [`repeated`]: warnings logged a few times, then counted.
//! - [`secret`]: a redacting wrapper for keys, tokens and passwords, and URL credential
//!   redaction for everything that leaves the process.
//! - [`fsio`]: bounded reads of user-given files (regular files only, under a cap).
//! - [`names`]: checks of names from the network (shas, etags, file names, store keys) before
//!   they become paths.
//! - [`http_body`]: bounded reading of HTTP response bodies, one cap per kind of answer.
//! - [`api_http`]: the base-URL rule and HTTP client the Hub and Chutes API clients share.
//! - [`hub`]: Hugging Face Hub client (model info, revision blobs, resumable snapshot download).
//! - [`miners`]: miner discovery: which committed miners are sampled, and why the others are not.
//! - [`validator`]: the `af validate` loop: schedule, weight pass, set, confirm, watchdog.
//! - [`signer`]: the signer service's client (and, later, server): `/sign`, `/set_weights`.
//! - [`weight_pass`]: the validator's weight pass (chain snapshot, scoring the store, summary).
//! - [`weights_set`]: setting a weight vector with a local hotkey (checks, call, confirmation).
//! - [`commands`]: one module per subcommand, wiring settings to the modules above.
//!
//! Data flows one way: store -> scoring -> summary/output.

pub mod api_http;
pub mod chain;
pub mod cli;
pub mod commands;
pub mod devnet;
pub mod env_vars;
pub mod environments;
pub mod envs;
pub mod error;
pub mod fsio;
pub mod http_body;
pub mod hub;
pub mod inference;
pub mod miners;
pub mod model;
pub mod names;
pub mod output;
pub mod repeated;
pub mod replay;
pub mod scheduler;
pub mod scoring;
pub mod secret;
pub mod settings;
pub mod shutdown;
pub mod signer;
pub mod store;
pub mod summary;
pub mod telemetry;
pub mod validator;
pub mod weight_pass;
pub mod weights_set;

pub use error::ExitStatus;
