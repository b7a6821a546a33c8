//! Integration tests: one binary, one module per area.

mod cli;
mod envs;
mod eval_cli;
mod golden;
mod sandbox;
mod support;
