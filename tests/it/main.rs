//! Integration tests: one binary, one module per area.

mod cli;
mod golden;
mod store;
mod support;
