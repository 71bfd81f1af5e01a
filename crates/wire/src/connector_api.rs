//! The connector's own API, spoken by mdm instances (`/api/v1/…`, JSON over HTTPS).

use serde::{Deserialize, Serialize};

use crate::ids::{DeviceId, InstanceId, LinkId, MessageId, TenantId};
use crate::partner::DeviceItem;

/// `POST /api/v1/instances`: an mdm instance registers once, authorised by the
/// registration secret the connector operator shares with the mdm server.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RegisterInstance {
    /// Stable identity of the instance on its mdm server; registering it again returns
    /// the same instance with a new credential.
    #[schema(min_length = 1, max_length = 200)]
    pub external_id: String,
    #[schema(min_length = 1, max_length = 255)]
    pub name: String,
    /// The instance's public base URL (landing pages are served under it): absolute, `https`.
    #[schema(format = "uri", pattern = "^https://[^/?#@]+")]
    pub url: String,
    #[schema(min_length = 1, max_length = 64)]
    pub version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InstanceRegistered {
    pub instance_id: InstanceId,
    /// Bearer credential for every later call; shown once.
    pub credential: String,
}

/// Landing page for computers the cloud does not recognise (scenario S3 step 4, README's table).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LandingPage {
    /// The instance's device-registration page.
    Registration,
    /// The instance's Access Denied page.
    AccessDenied,
    /// An absolute https URL chosen by the admin, on a public host: a DNS name, never an
    /// address or `localhost`.
    Custom {
        #[schema(format = "uri", pattern = "^https://[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,63}(:[0-9]{1,4})?([/?#].*)?$")]
        url: String,
    },
}

/// `POST /api/v1/links`: start connecting this instance to a tenant.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StartLink {
    /// A cloud profile this connector holds an app registration for (`local`, `global`,
    /// …); any other is refused with 422.
    #[schema(value_type = CloudName)]
    pub cloud: String,
    pub landing_page: LandingPage,
    /// Where the admin's browser returns after both consents: an `https` URL under the
    /// instance's registered URL (anything else is refused with 422).
    #[schema(format = "uri", pattern = "^https://")]
    pub return_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LinkStarted {
    pub link_id: LinkId,
    /// Send the admin's browser here; it leads through both consents.
    pub consent_url: String,
}

/// States of a link instance ↔ tenant, as the mdm shows them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::EnumString, strum::AsRefStr, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum LinkStatus {
    /// Started; the admin has not granted both consents yet.
    AwaitingConsent,
    /// Both consents granted; the App ID is to be entered in Intune and confirmed.
    AwaitingConfirmation,
    /// Confirmed: inventory is delivered.
    Active,
    /// The last test failed; nothing is delivered until a test passes.
    Failing,
    /// Disconnected by the instance.
    Disconnected,
    /// Terminated by Intune.
    Terminated,
}

/// One check of the Confirm test (scenario S3 step 8, README's table).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
}

/// `GET /api/v1/links/current`, and the answer to Confirm.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LinkView {
    pub link_id: LinkId,
    pub status: LinkStatus,
    pub cloud: String,
    pub tenant_id: Option<TenantId>,
    /// The Cloud Connector app's Application ID, to paste into Partner device management.
    pub application_id: String,
    /// The cloud's Partner device management page, opened by *Copy and Open Intune*.
    pub intune_partner_page: Option<String>,
    pub checks: Vec<Check>,
    pub last_tested_at: Option<String>,
}

/// `POST /api/v1/inventory`: a batch of computer states from one instance.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InventoryBatch {
    /// At most 5,000 updates; a batch is refused whole (422) if one of them is not valid.
    #[schema(max_items = 5000)]
    pub updates: Vec<InventoryUpdate>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InventoryUpdate {
    /// The instance's own key of the device record: outcomes are reported under it, and
    /// sequences order per key. A computer with several registered users sends one record
    /// per user's Entra device (this mdm writes `<computer>/<Entra device ID>`).
    #[schema(min_length = 1, max_length = 200)]
    pub computer_id: String,
    /// Strictly increasing per key; an older sequence never overwrites a newer one.
    #[schema(minimum = 0)]
    pub sequence: i64,
    pub item: DeviceItem,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InventoryAccepted {
    pub accepted: usize,
    /// Updates older than one already held for the same computer (kept out, not an error).
    pub superseded: usize,
}

/// `GET /api/v1/outcomes?after=N`: what became of delivered updates, in order.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Outcomes {
    pub outcomes: Vec<Outcome>,
    /// Pass as `after` on the next call.
    pub cursor: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Outcome {
    pub computer_id: String,
    pub sequence: i64,
    pub status: OutcomeStatus,
    pub detail: Option<String>,
    pub at: String,
    /// Of an accepted update, when the cloud says: the device's compliance state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compliance_state: Option<String>,
    /// With it, one sentence per failing setting.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compliance_reasons: Vec<String>,
}

/// What became of a delivered update.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::EnumString, strum::AsRefStr, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum OutcomeStatus {
    /// Applied by the cloud.
    Accepted,
    /// The cloud holds a newer state of the device, so this one was not applied.
    Stale,
    /// Refused by the cloud (see `detail`).
    Rejected,
    /// Delivery was given up (see `detail`).
    Dead,
}

/// Where an update the connector took in is: `queued` → `batched` (in a message) →
/// `done`, or `dead` when the cloud refused it or delivery was given up (replayable:
/// back to `queued`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::EnumString, strum::AsRefStr, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum IntakeState {
    Queued,
    Batched,
    Done,
    Dead,
}

crate::text_enum!(LinkStatus, OutcomeStatus, IntakeState);

/// `GET /api/v1/status`: the instance's current link and its delivery health.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InstanceStatus {
    pub instance_id: InstanceId,
    pub link: Option<LinkView>,
    /// Updates accepted but not concluded yet.
    pub backlog: i64,
    /// Age of the oldest of them.
    pub lag_seconds: i64,
    pub last_upload_at: Option<String>,
    pub accepted_total: i64,
    pub rejected_total: i64,
    pub stale_total: i64,
    pub dead_letters: i64,
    pub last_error: Option<String>,
}

/// Cloud profile names a link may name (`StartLink.cloud`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CloudName {
    Local,
    Global,
    Usgov,
    UsgovDod,
    China,
}

/// One link as the operator API and `cloudconnector admin status` show it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LinkHealth {
    pub link: LinkView,
    pub instance_id: InstanceId,
    pub instance_name: String,
    /// Updates accepted but not concluded yet.
    pub backlog: i64,
    /// Age of the oldest of them.
    pub lag_seconds: i64,
    pub dead_letters: i64,
    pub accepted_total: i64,
    pub rejected_total: i64,
    /// Updates the cloud kept out as older than the state it held.
    #[serde(default)]
    pub stale_total: i64,
    pub last_upload_at: Option<String>,
    pub last_error: Option<String>,
    pub last_reconciled_at: Option<String>,
    /// Every state the link went through, oldest first.
    pub history: Vec<LinkEvent>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LinkEvent {
    pub at: String,
    pub status: LinkStatus,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LinksHealth {
    pub links: Vec<LinkHealth>,
}

/// An update that could not be delivered, kept until replayed.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeadLetter {
    pub id: i64,
    pub instance_id: InstanceId,
    pub tenant_id: TenantId,
    pub computer_id: String,
    pub sequence: i64,
    pub device_id: DeviceId,
    pub reason: Option<String>,
    pub at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeadLetters {
    pub dead_letters: Vec<DeadLetter>,
}

/// `POST …/dead-letters/replay`: the given ids, or every dead letter in scope.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Replay {
    #[serde(default)]
    pub ids: Option<Vec<i64>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Replayed {
    pub replayed: u64,
    /// Letters closed instead: a newer update of the same computer exists.
    pub superseded: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reconciled {
    pub link_id: LinkId,
    /// Updates queued again: the newest one of each computer.
    pub queued: u64,
}

/// Everything the connector did with one Entra device.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeviceTrace {
    pub device_id: DeviceId,
    pub updates: Vec<TracedUpdate>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TracedUpdate {
    pub instance_id: InstanceId,
    pub tenant_id: TenantId,
    pub computer_id: String,
    pub sequence: i64,
    pub status: IntakeState,
    pub received_at: String,
    pub message_id: Option<MessageId>,
    /// The message's state (`upload`, `poll`, `done`), attempts and last error.
    pub message: Option<String>,
    pub dead_reason: Option<String>,
    /// Outcomes reported back to the instance: `status at: detail`.
    pub outcomes: Vec<String>,
    pub item: DeviceItem,
}
