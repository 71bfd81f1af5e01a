//! Who is calling, as typed extractors: an mdm instance by its instance credential
//! ([`CallingInstance`]) and the operator by the operator token ([`Operator`]).

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use platform::problem::Refuse;

use crate::Shared;
use crate::error::{ConnectorError, Result};
use crate::store::InstanceRow;

/// The registered instance whose credential the request carries (bearer). Rejection:
/// 401 without one or with one that is not valid. The request's log span names it.
pub(crate) struct CallingInstance(pub InstanceRow);

impl FromRequestParts<Shared> for CallingInstance {
    type Rejection = ConnectorError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self> {
        let token = bearer(&parts.headers).ok_or_else(|| ConnectorError::unauthorized("A bearer instance credential is required."))?;
        let instance = state
            .store
            .instance_by_credential(&platform::secrets::digest_hex(token))
            .await?
            .ok_or_else(|| ConnectorError::unauthorized("The instance credential is not valid."))?;
        tracing::Span::current().record("instance", instance.id.as_str());
        Ok(CallingInstance(instance))
    }
}

/// The connector's operator, by the configured `operator_token` (bearer). Rejection: 404
/// when no token is configured (the operator API is off), 401 for a missing or wrong one.
pub(crate) struct Operator;

impl FromRequestParts<Shared> for Operator {
    type Rejection = ConnectorError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self> {
        let Some(expected) = state.config.operator_token.as_deref() else {
            return Err(ConnectorError::not_found("The operator API is off: no operator_token is configured."));
        };
        match bearer(&parts.headers) {
            // Compared as digests: equal length, so the comparison's time says nothing.
            Some(t) if platform::secrets::digest_hex(t) == platform::secrets::digest_hex(expected) => Ok(Operator),
            _ => Err(ConnectorError::unauthorized("The operator token is missing or not valid.")),
        }
    }
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}
