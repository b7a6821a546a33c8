//! Integration tests: one binary, one module per area.

mod cli;
mod golden;
mod sandbox;
mod support;
