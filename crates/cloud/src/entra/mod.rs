//! The Entra ID side of the cloud: directory, client authentication, sign-in and
//! Conditional Access, tokens, consent, device registration.

pub mod administration;
pub mod assertions;
pub mod clients;
pub mod conditional_access;
pub mod consent;
pub mod devices;
pub mod directory;
pub mod registrations;
pub mod sign_in;
pub mod tokens;
pub mod what_if;
