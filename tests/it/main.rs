//! Integration tests: one binary, one module per area.

mod chutes;
mod cli;
mod docker_env;
mod env_url;
mod envs;
mod eval_cli;
mod golden;
mod hub;
mod hub_cli;
mod sandbox;
mod support;
