//! Integration tests: one binary, one module per area.

mod chain;
mod chutes;
mod chutes_push;
mod cli;
mod docker_dood;
mod docker_env;
mod docker_ssh;
mod env_url;
mod envs;
mod eval_cli;
mod golden;
mod hub;
mod hub_cli;
mod miners;
mod pull;
mod replay_cache;
mod sandbox;
mod signing;
mod store;
mod support;
mod timelock;
mod wallet;
mod weights;
mod weights_chain;
mod weights_set;
