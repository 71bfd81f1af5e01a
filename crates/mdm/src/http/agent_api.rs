//! The agent API a Mac speaks.

use crate::http::Bytes;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use wire::agent::{AadRegistration, AgentCommand, AgentCommands, ComputerCaView, Enroll, Enrolled, InventoryApplied, InventoryReport};
use wire::errors::Problem;

use super::callers::{EnrolledMac, Instance};
use super::{Query, json_body};
use crate::error::Result;
use crate::{Shared, agent};

#[utoipa::path(post, path = "/i/{slug}/api/agent/v1/enrollments", tag = "agent",
    summary = "Enrol a Mac with the instance's invitation",
    params(("slug" = String, Path, description = "The instance's path name.")),
    request_body = Enroll,
    responses((status = 201, description = "Enrolled; the credential is shown only now.", body = Enrolled),
        (status = 401, description = "The invitation is not valid for this instance.", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such instance.", body = Problem, content_type = "application/problem+json"), (status = 413, description = "The body is larger than 4 MiB.", body = Problem, content_type = "application/problem+json"), (status = 422, description = "The body breaks a rule of this document (see `detail`, which names the field).", body = Problem, content_type = "application/problem+json")))]
pub async fn enroll(State(state): State<Shared>, Instance(instance): Instance, body: Bytes) -> Result<(StatusCode, Json<Enrolled>)> {
    let req: Enroll = json_body(&body)?;
    Ok((StatusCode::CREATED, Json(agent::enroll(&state, &instance, req).await?)))
}

#[utoipa::path(put, path = "/i/{slug}/api/agent/v1/inventory", tag = "agent",
    summary = "Report the Mac's whole inventory",
    description = "Read through one normalisation layer: every vendor spelling of a value is understood; an informational value that cannot be read is dropped with a warning; a compliance value that cannot be read refuses the report (422, nothing stored). Local account names may not repeat (compared without regard to case), volume names may not repeat, and at most one volume is the boot volume.",
    params(("slug" = String, Path, description = "The instance's path name.")),
    request_body = InventoryReport,
    responses((status = 200, description = "Stored.", body = InventoryApplied), (status = 401, description = "The computer credential is missing or not valid.", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such instance.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The stored inventory was collected later; nothing was applied.", body = Problem, content_type = "application/problem+json"), (status = 413, description = "The body is larger than 4 MiB.", body = Problem, content_type = "application/problem+json"), (status = 422, description = "The body breaks a rule of this document (see `detail`, which names the field).", body = Problem, content_type = "application/problem+json")),
    security(("computer_credential" = [])))]
pub async fn inventory(
    State(state): State<Shared>,
    EnrolledMac { instance, computer }: EnrolledMac,
    body: Bytes,
) -> Result<Json<InventoryApplied>> {
    let report: serde_json::Value = json_body(&body)?;
    let applied = agent::submit_inventory(&state, &instance, &computer, report).await?;
    state.metrics.inventory_reports_total.increment(1);
    Ok(Json(InventoryApplied { computer_id: computer.id, sequence: applied.sequence, warnings: applied.warnings }))
}

/// `PATCH inventory`: a partial report (only the sections that changed).
#[utoipa::path(patch, path = "/i/{slug}/api/agent/v1/inventory", tag = "agent",
    summary = "Report only what changed",
    description = "`collected_at` and any sections of the whole report, merged over the stored inventory and read as a whole report is. Needs a whole report first (409 without one).",
    params(("slug" = String, Path, description = "The instance's path name.")),
    request_body = PartialInventory,
    responses((status = 200, description = "Stored.", body = InventoryApplied), (status = 401, description = "The computer credential is missing or not valid.", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such instance.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No whole report yet, or the stored inventory was collected later; nothing was applied.", body = Problem, content_type = "application/problem+json"), (status = 413, description = "The body is larger than 4 MiB.", body = Problem, content_type = "application/problem+json"), (status = 422, description = "The body breaks a rule of this document (see `detail`, which names the field).", body = Problem, content_type = "application/problem+json")),
    security(("computer_credential" = [])))]
pub async fn partial_inventory(
    State(state): State<Shared>,
    EnrolledMac { instance, computer }: EnrolledMac,
    body: Bytes,
) -> Result<Json<InventoryApplied>> {
    let patch: serde_json::Value = json_body(&body)?;
    let applied = agent::submit_partial(&state, &instance, &computer, patch).await?;
    state.metrics.inventory_reports_total.increment(1);
    Ok(Json(InventoryApplied { computer_id: computer.id, sequence: applied.sequence, warnings: applied.warnings }))
}

/// The body of `PATCH inventory`: the whole report's fields, none required but
/// `collected_at`, no others (its schema only; the handler reads a JSON object).
pub struct PartialInventory;

impl utoipa::PartialSchema for PartialInventory {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, Schema};
        let mut schema = <InventoryReport as utoipa::PartialSchema>::schema();
        if let utoipa::openapi::RefOr::T(Schema::Object(object)) = &mut schema {
            object.required = vec!["collected_at".into()];
            object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
            object.description = Some("`collected_at` and only the sections that changed.".into());
        }
        schema
    }
}

impl utoipa::ToSchema for PartialInventory {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        <InventoryReport as utoipa::ToSchema>::schemas(schemas);
    }
}

#[utoipa::path(post, path = "/i/{slug}/api/agent/v1/aad-registrations", tag = "agent",
    summary = "Record a local user's Entra registration (Workplace Join)",
    params(("slug" = String, Path, description = "The instance's path name.")),
    request_body = AadRegistration,
    responses((status = 204, description = "Recorded; while the integration is on, the computer's state is queued for the user's Entra device."),
        (status = 401, description = "The computer credential is missing or not valid.", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such instance.", body = Problem, content_type = "application/problem+json"), (status = 413, description = "The body is larger than 4 MiB.", body = Problem, content_type = "application/problem+json"), (status = 422, description = "The body breaks a rule of this document (see `detail`, which names the field).", body = Problem, content_type = "application/problem+json")),
    security(("computer_credential" = [])))]
pub async fn aad_registration(
    State(state): State<Shared>,
    EnrolledMac { instance, computer }: EnrolledMac,
    body: Bytes,
) -> Result<StatusCode> {
    let req: AadRegistration = json_body(&body)?;
    agent::register_aad(&state, &instance, &computer, req).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/i/{slug}/api/agent/v1/checkins", tag = "agent",
    summary = "Check in (the Mac is alive)",
    params(("slug" = String, Path, description = "The instance's path name.")),
    responses((status = 204, description = "Recorded."), (status = 401, description = "The computer credential is missing or not valid.", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such instance.", body = Problem, content_type = "application/problem+json")),
    security(("computer_credential" = [])))]
pub async fn checkin(State(state): State<Shared>, EnrolledMac { instance, computer }: EnrolledMac) -> Result<StatusCode> {
    agent::checkin(&state, &instance, &computer).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/i/{slug}/api/agent/v1/conditional-access", tag = "agent",
    summary = "The Mac's Conditional Access state, user by user",
    params(("slug" = String, Path, description = "The instance's path name.")),
    responses((status = 200, description = "The state.", body = ComputerCaView), (status = 401, description = "The computer credential is missing or not valid.", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such instance.", body = Problem, content_type = "application/problem+json")),
    security(("computer_credential" = [])))]
pub async fn ca_view(State(state): State<Shared>, EnrolledMac { computer, .. }: EnrolledMac) -> Result<Json<ComputerCaView>> {
    Ok(Json(agent::ca_view(&state, &computer).await?))
}

/// The query of the agent's long poll.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CommandWait {
    /// Seconds to wait for a command when none is waiting (0 to 8; default 0).
    #[serde(default)]
    #[param(minimum = 0, maximum = 8)]
    wait: u64,
}

#[utoipa::path(get, path = "/i/{slug}/api/agent/v1/commands", tag = "agent",
    summary = "Fetch the commands waiting for the Mac (long poll)",
    description = "Answers at once with the waiting commands, or after `wait` seconds with none. A command handed out is not handed out again. The agent answers `UpdateInventory` with a whole inventory report (`PUT inventory`).",
    params(("slug" = String, Path, description = "The instance's path name."), CommandWait),
    responses((status = 200, description = "The commands (possibly none).", body = AgentCommands),
        (status = 401, description = "The computer credential is missing or not valid.", body = Problem, content_type = "application/problem+json"), (status = 404, description = "No such instance.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`wait` is not a whole number of seconds from 0 to 8.", body = Problem, content_type = "application/problem+json")),
    security(("computer_credential" = [])))]
pub async fn commands(
    State(state): State<Shared>,
    EnrolledMac { computer, .. }: EnrolledMac,
    Query(q): Query<CommandWait>,
) -> Result<Json<AgentCommands>> {
    if q.wait > agent::MAX_COMMAND_WAIT_S {
        return Err(platform::problem::Refuse::invalid(format!("wait must be 0 to {} seconds.", agent::MAX_COMMAND_WAIT_S)));
    }
    let rows = agent::wait_for_commands(&state, &computer, q.wait).await?;
    let commands = rows.into_iter().map(|r| AgentCommand { command_uuid: r.uuid, request_type: r.command_type }).collect();
    Ok(Json(AgentCommands { commands }))
}
