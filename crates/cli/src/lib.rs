//! The `cloudconnector` command's library: the in-process stack of all roles, a browser
//! driver for the consoles, the administrators' procedures, the demo and configuration.

pub mod admin;
pub mod admin_steps;
pub mod bench;
pub mod bench_freshness;
pub mod bench_graph;
pub mod bench_import;
pub mod bench_retention;
pub mod bench_sign_in;
pub mod browser;
pub mod config;
pub mod demo;
pub mod demo_rollout;
pub mod graph_reader;
pub mod provision;
pub mod sealing;
pub mod stack;
