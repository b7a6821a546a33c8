//! Integration tests: one binary, one module per area.

mod chain;
mod cli;
mod golden;
mod signing;
mod support;
mod timelock;
mod wallet;
mod weights;
