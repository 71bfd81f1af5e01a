//! Plumbing every role shares and none owns: the injectable clock, the local CA and TLS,
//! the database connection with per-backend migrations, HTTPS serving and clients,
//! secret handling and small HTML helpers for the server-rendered consoles.
//!
//! Roles never share state through this crate; each service gets its own instances.

pub mod clock;
pub mod db;
pub mod html;
pub mod http;
pub mod secrets;
pub mod tls;

pub use clock::Clock;
pub use db::{Backend, Db};
