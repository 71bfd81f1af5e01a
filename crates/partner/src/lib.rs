//! A client of Microsoft's partner-facing services, spoken exactly as against the real
//! clouds: client-credentials tokens, Graph service discovery, the Intune partner
//! services, and the one place that decides whether a failed call is retried. The
//! connector and the mdm's Manual mode share it.

pub mod client;
pub mod gate;
pub mod outcome;
pub mod retry;

pub use client::{CallError, CloudApp, CloudClient};
