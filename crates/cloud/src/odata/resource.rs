//! What each Graph collection lets a client query: its properties, their types, the SQL
//! column behind each (for collections read from the database), and which `$filter`
//! operators and `$orderby` work by default, only as an *advanced query*
//! (`ConsistencyLevel: eventual` and `$count=true`, directory objects only), or not at
//! all — following Microsoft Graph's tables ("Advanced query capabilities on Microsoft
//! Entra ID objects", and each resource's List page).

/// A property's OData type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    /// Stored lower case; compared exactly.
    Guid,
    Bool,
    Int,
    /// Stored as milliseconds since the epoch; shown as `DateTimeOffset`.
    DateTime,
    /// An enum member, compared by name without regard to case.
    Enum,
    /// A collection of objects, queried with `any`/`all` and `/$count`.
    Collection(&'static Collection),
}

impl Kind {
    /// The EDM type name Graph reports in type errors.
    pub fn edm(self) -> &'static str {
        match self {
            Kind::String | Kind::Enum => "Edm.String",
            Kind::Guid => "Edm.Guid",
            Kind::Bool => "Edm.Boolean",
            Kind::Int => "Edm.Int64",
            Kind::DateTime => "Edm.DateTimeOffset",
            Kind::Collection(_) => "Collection",
        }
    }
}

/// The objects of a collection property and how to reach them in SQL.
#[derive(Debug, PartialEq, Eq)]
pub struct Collection {
    /// `FROM` clause of the elements, alias `el` (`user_licences el`).
    pub from: &'static str,
    /// Joins an element to its parent row (`el.user_id = users.id`).
    pub join: &'static str,
    pub props: &'static [Prop],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Support {
    No,
    /// Only with `ConsistencyLevel: eventual` and `$count=true` (directory objects).
    Advanced,
    Default,
}

/// One queryable property of a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prop {
    /// Graph's name, as items carry it.
    pub name: &'static str,
    pub kind: Kind,
    /// The SQL expression of the property in the resource's query; `None` for a
    /// collection held in memory only.
    pub column: Option<&'static str>,
    /// `eq` and `in`.
    pub eq: Support,
    /// `ne` and `not`.
    pub negation: Support,
    /// `gt`, `ge`, `lt`, `le`.
    pub range: Support,
    pub starts_with: Support,
    pub ends_with: Support,
    pub contains: Support,
    /// Comparison with `null`.
    pub null: Support,
    pub order_by: Support,
}

impl Prop {
    /// A property nothing can be asked of but `$select`.
    pub const fn new(name: &'static str, kind: Kind, column: Option<&'static str>) -> Prop {
        Prop {
            name,
            kind,
            column,
            eq: Support::No,
            negation: Support::No,
            range: Support::No,
            starts_with: Support::No,
            ends_with: Support::No,
            contains: Support::No,
            null: Support::No,
            order_by: Support::No,
        }
    }

    /// `eq`/`in` by default and, as Graph's directory allows wherever `eq` works, `ne`/`not`
    /// in advanced queries (`negation`).
    pub const fn eq(mut self, eq: Support, negation: Support) -> Prop {
        self.eq = eq;
        self.negation = negation;
        self
    }

    pub const fn range(mut self, s: Support) -> Prop {
        self.range = s;
        self
    }

    pub const fn starts_with(mut self, s: Support) -> Prop {
        self.starts_with = s;
        self
    }

    pub const fn ends_with(mut self, s: Support) -> Prop {
        self.ends_with = s;
        self
    }

    pub const fn contains(mut self, s: Support) -> Prop {
        self.contains = s;
        self
    }

    pub const fn null(mut self, s: Support) -> Prop {
        self.null = s;
        self
    }

    pub const fn order_by(mut self, s: Support) -> Prop {
        self.order_by = s;
        self
    }
}

/// A Graph collection (entity set) and what can be asked of it.
#[derive(Debug)]
pub struct Resource {
    /// `devices`, `deviceManagement/managedDevices`.
    pub entity_set: &'static str,
    /// `device`, `managedDevice` (`microsoft.graph.<type>`).
    pub type_name: &'static str,
    /// A directory object: the advanced query rules apply, `$skip` is refused, counting
    /// needs `ConsistencyLevel: eventual`.
    pub directory: bool,
    pub props: &'static [Prop],
    /// Properties `$search` looks in (directory objects; empty: `$search` refused).
    pub search: &'static [&'static str],
    /// Largest `$top`, and the page size without one.
    pub max_top: i64,
    pub default_top: i64,
}

impl Resource {
    /// A property by name, without regard to case (as Graph reads names).
    pub fn prop(&self, name: &str) -> Option<&'static Prop> {
        self.props.iter().find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// `Device`, as Graph names the resource in error messages.
    pub fn display_name(&self) -> String {
        let mut c = self.type_name.chars();
        c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
    }
}

use Support::{Advanced as A, Default as D};

// ---- directory objects ------------------------------------------------------------

/// The licences a user holds (Graph `assignedLicense`).
pub static ASSIGNED_LICENSES: Collection = Collection {
    from: "user_licences el",
    join: "el.user_id = u.id",
    props: &[Prop::new("skuId", Kind::Guid, Some("el.sku_id")).eq(D, A)],
};

/// `users` (base query `users u`).
pub static USERS: Resource = Resource {
    entity_set: "users",
    type_name: "user",
    directory: true,
    props: &[
        Prop::new("id", Kind::Guid, Some("u.id")).eq(D, A),
        Prop::new("userPrincipalName", Kind::String, Some("u.upn")).eq(D, A).starts_with(D).ends_with(A).range(A).order_by(D),
        Prop::new("displayName", Kind::String, Some("u.display_name")).eq(D, A).starts_with(D).null(A).order_by(D),
        Prop::new("mail", Kind::String, Some("u.upn")).eq(D, A).starts_with(D).ends_with(A).range(D),
        Prop::new("accountEnabled", Kind::Bool, Some("u.account_enabled")).eq(D, A),
        Prop::new("userType", Kind::String, Some("'Member'")).eq(D, A).null(A),
        Prop::new("createdDateTime", Kind::DateTime, Some("u.created_ms")).eq(D, A).range(D).order_by(A),
        Prop::new("assignedLicenses", Kind::Collection(&ASSIGNED_LICENSES), None).eq(D, A),
    ],
    search: &["displayName", "userPrincipalName", "mail"],
    max_top: 999,
    default_top: 100,
};

/// `devices` (base query `devices d`).
pub static DEVICES: Resource = Resource {
    entity_set: "devices",
    type_name: "device",
    directory: true,
    props: &[
        Prop::new("id", Kind::Guid, Some("d.id")).eq(D, A),
        Prop::new("deviceId", Kind::Guid, Some("d.device_id")).eq(D, A),
        Prop::new("displayName", Kind::String, Some("d.display_name")).eq(D, A).starts_with(D).null(A).order_by(A),
        Prop::new("operatingSystem", Kind::String, Some("d.operating_system")).eq(D, A).starts_with(D).range(D),
        Prop::new("operatingSystemVersion", Kind::String, Some("d.os_version")).eq(D, A).starts_with(D).range(D),
        Prop::new("isCompliant", Kind::Bool, Some("d.is_compliant")).eq(D, A).null(A),
        Prop::new("isManaged", Kind::Bool, Some("d.is_managed")).eq(D, A),
        Prop::new("mdmAppId", Kind::Guid, Some("d.mdm_app_id")).eq(D, A).null(A),
        Prop::new("accountEnabled", Kind::Bool, Some("d.account_enabled")).eq(D, A),
        Prop::new("trustType", Kind::String, Some("'Workplace'")).eq(D, A),
        Prop::new("profileType", Kind::String, Some("'RegisteredDevice'")).eq(D, A),
        Prop::new("registrationDateTime", Kind::DateTime, Some("d.registered_ms")).eq(D, A).range(D).order_by(A),
        Prop::new("approximateLastSignInDateTime", Kind::DateTime, Some("d.last_sign_in_ms")).eq(D, A).range(D).null(A).order_by(A),
        Prop::new("complianceExpirationDateTime", Kind::DateTime, Some("NULL")),
    ],
    search: &["displayName"],
    max_top: 999,
    default_top: 100,
};

/// `groups`, held in memory.
pub static GROUPS: Resource = Resource {
    entity_set: "groups",
    type_name: "group",
    directory: true,
    props: &[
        Prop::new("id", Kind::Guid, None).eq(D, A),
        Prop::new("displayName", Kind::String, None).eq(D, A).starts_with(D).null(A).order_by(D),
        Prop::new("securityEnabled", Kind::Bool, None).eq(D, A),
        Prop::new("mailEnabled", Kind::Bool, None).eq(D, A),
        Prop::new("groupTypes", Kind::String, None),
    ],
    search: &["displayName"],
    max_top: 999,
    default_top: 100,
};

/// `applications`, held in memory.
pub static APPLICATIONS: Resource = Resource {
    entity_set: "applications",
    type_name: "application",
    directory: true,
    props: &[
        Prop::new("id", Kind::Guid, None).eq(D, A),
        Prop::new("appId", Kind::Guid, None).eq(D, A),
        Prop::new("displayName", Kind::String, None).eq(D, A).starts_with(D).null(A).order_by(A),
        Prop::new("signInAudience", Kind::String, None).eq(D, A),
        Prop::new("identifierUris", Kind::String, None),
        Prop::new("web", Kind::String, None),
        Prop::new("requiredResourceAccess", Kind::String, None),
        Prop::new("appRoles", Kind::String, None),
        Prop::new("passwordCredentials", Kind::String, None),
        Prop::new("keyCredentials", Kind::String, None),
        Prop::new("publisherDomain", Kind::String, None).eq(D, A),
        Prop::new("createdDateTime", Kind::DateTime, None).eq(D, A).range(D).order_by(A),
    ],
    search: &["displayName"],
    max_top: 999,
    default_top: 100,
};

/// `servicePrincipals`, held in memory.
pub static SERVICE_PRINCIPALS: Resource = Resource {
    entity_set: "servicePrincipals",
    type_name: "servicePrincipal",
    directory: true,
    props: &[
        Prop::new("id", Kind::Guid, None).eq(D, A),
        Prop::new("appId", Kind::Guid, None).eq(D, A),
        Prop::new("displayName", Kind::String, None).eq(D, A).starts_with(D).null(A).order_by(A),
        Prop::new("servicePrincipalType", Kind::String, None).eq(D, A),
        Prop::new("accountEnabled", Kind::Bool, None).eq(D, A),
        Prop::new("appOwnerOrganizationId", Kind::Guid, None).eq(D, A).null(A),
        Prop::new("appRoles", Kind::String, None),
        Prop::new("oauth2PermissionScopes", Kind::String, None),
    ],
    search: &["displayName"],
    max_top: 999,
    default_top: 100,
};

// ---- Intune -----------------------------------------------------------------------

/// `deviceManagement/managedDevices` (base query `managed_devices m`).
pub static MANAGED_DEVICES: Resource = Resource {
    entity_set: "deviceManagement/managedDevices",
    type_name: "managedDevice",
    directory: false,
    props: &[
        Prop::new("id", Kind::Guid, Some("m.id")).eq(D, D),
        Prop::new("userId", Kind::Guid, Some("m.user_id")).eq(D, D).null(D),
        Prop::new("userPrincipalName", Kind::String, Some("(SELECT x.upn FROM users x WHERE x.id = m.user_id)"))
            .eq(D, D)
            .starts_with(D)
            .null(D)
            .order_by(D),
        Prop::new("deviceName", Kind::String, Some("m.device_name")).eq(D, D).starts_with(D).contains(D).null(D).order_by(D),
        Prop::new("operatingSystem", Kind::String, Some("'macOS'")).eq(D, D).starts_with(D),
        Prop::new("osVersion", Kind::String, Some("m.os_version")).eq(D, D).starts_with(D).range(D).null(D).order_by(D),
        Prop::new("serialNumber", Kind::String, Some("m.serial_number")).eq(D, D).starts_with(D).null(D).order_by(D),
        Prop::new("azureADDeviceId", Kind::Guid, Some("m.device_id")).eq(D, D),
        Prop::new("azureADRegistered", Kind::Bool, Some("1")).eq(D, D),
        Prop::new("deviceRegistrationState", Kind::Enum, Some("'registered'")).eq(D, D),
        Prop::new("complianceState", Kind::Enum, Some("m.compliance_state")).eq(D, D).order_by(D),
        Prop::new("complianceGracePeriodExpirationDateTime", Kind::DateTime, Some("m.grace_expires_ms")).range(D).null(D),
        Prop::new("managementAgent", Kind::Enum, Some("'jamf'")).eq(D, D),
        Prop::new("lastSyncDateTime", Kind::DateTime, Some("m.last_sync_ms")).eq(D, D).range(D).order_by(D),
        Prop::new("managedDeviceOwnerType", Kind::Enum, Some("'company'")).eq(D, D),
        Prop::new("manufacturer", Kind::String, Some("'Apple'")).eq(D, D).starts_with(D),
        Prop::new("emailAddress", Kind::String, Some("(SELECT x.upn FROM users x WHERE x.id = m.user_id)")).eq(D, D).starts_with(D),
        Prop::new("model", Kind::String, None),
        Prop::new("wiFiMacAddress", Kind::String, None),
        Prop::new("enrolledDateTime", Kind::DateTime, Some("m.enrolled_ms")).range(D).order_by(D),
        Prop::new("isEncrypted", Kind::Bool, None),
        Prop::new("isSupervised", Kind::Bool, Some("0")).eq(D, D),
    ],
    search: &[],
    max_top: 1000,
    default_top: 1000,
};

/// `deviceManagement/deviceCompliancePolicies`, held in memory.
pub static COMPLIANCE_POLICIES: Resource = Resource {
    entity_set: "deviceManagement/deviceCompliancePolicies",
    type_name: "deviceCompliancePolicy",
    directory: false,
    props: &[
        Prop::new("id", Kind::Guid, None).eq(D, D),
        Prop::new("displayName", Kind::String, None).eq(D, D).starts_with(D).contains(D).order_by(D),
        Prop::new("description", Kind::String, None).eq(D, D).null(D),
        Prop::new("createdDateTime", Kind::DateTime, None).range(D).order_by(D),
        Prop::new("lastModifiedDateTime", Kind::DateTime, None).range(D).order_by(D),
        Prop::new("version", Kind::Int, None).eq(D, D),
    ],
    search: &[],
    max_top: 1000,
    default_top: 1000,
};

/// `deviceManagement/deviceManagementPartners`, held in memory.
pub static PARTNERS: Resource = Resource {
    entity_set: "deviceManagement/deviceManagementPartners",
    type_name: "deviceManagementPartner",
    directory: false,
    props: &[
        Prop::new("id", Kind::String, None).eq(D, D),
        Prop::new("displayName", Kind::String, None).eq(D, D).starts_with(D),
        Prop::new("partnerState", Kind::Enum, None).eq(D, D),
        Prop::new("partnerAppType", Kind::Enum, None).eq(D, D),
        Prop::new("singleTenantAppId", Kind::String, None).eq(D, D).null(D),
        Prop::new("isConfigured", Kind::Bool, None).eq(D, D),
        Prop::new("lastHeartbeatDateTime", Kind::DateTime, None).range(D).null(D),
    ],
    search: &[],
    max_top: 1000,
    default_top: 1000,
};

/// `deviceManagement/complianceManagementPartners`, held in memory.
pub static COMPLIANCE_PARTNERS: Resource = Resource {
    entity_set: "deviceManagement/complianceManagementPartners",
    type_name: "complianceManagementPartner",
    directory: false,
    props: &[
        Prop::new("id", Kind::String, None).eq(D, D),
        Prop::new("displayName", Kind::String, None).eq(D, D).starts_with(D),
        Prop::new("partnerState", Kind::Enum, None).eq(D, D),
        Prop::new("macOsOnboarded", Kind::Bool, None).eq(D, D),
        Prop::new("lastHeartbeatDateTime", Kind::DateTime, None).range(D).null(D),
    ],
    search: &[],
    max_top: 1000,
    default_top: 1000,
};

/// `servicePrincipals/{id}/endpoints`, held in memory.
pub static ENDPOINTS: Resource = Resource {
    entity_set: "servicePrincipals/endpoints",
    type_name: "endpoint",
    directory: true,
    props: &[
        Prop::new("id", Kind::Guid, None).eq(D, A),
        Prop::new("capability", Kind::String, None).eq(D, A),
        Prop::new("providerId", Kind::String, None).eq(D, A),
        Prop::new("providerName", Kind::String, None).eq(D, A).starts_with(D),
        Prop::new("uri", Kind::String, None).eq(D, A),
        Prop::new("providerResourceId", Kind::String, None).eq(D, A),
        Prop::new("deletedDateTime", Kind::DateTime, None),
    ],
    search: &[],
    max_top: 999,
    default_top: 100,
};

/// `servicePrincipals/{id}/appRoleAssignments`, held in memory.
pub static APP_ROLE_ASSIGNMENTS: Resource = Resource {
    entity_set: "servicePrincipals/appRoleAssignments",
    type_name: "appRoleAssignment",
    directory: true,
    props: &[
        Prop::new("id", Kind::String, None).eq(D, A),
        Prop::new("appRoleId", Kind::Guid, None).eq(D, A),
        Prop::new("principalId", Kind::Guid, None).eq(D, A),
        Prop::new("principalType", Kind::String, None).eq(D, A),
        Prop::new("principalDisplayName", Kind::String, None).eq(D, A).starts_with(D),
        Prop::new("resourceId", Kind::Guid, None).eq(D, A),
        Prop::new("resourceDisplayName", Kind::String, None).eq(D, A).starts_with(D),
        Prop::new("appRoleValue", Kind::String, None),
    ],
    search: &[],
    max_top: 999,
    default_top: 100,
};

/// `oauth2PermissionGrants`, held in memory.
pub static OAUTH2_GRANTS: Resource = Resource {
    entity_set: "oauth2PermissionGrants",
    type_name: "oAuth2PermissionGrant",
    directory: true,
    props: &[
        Prop::new("id", Kind::String, None).eq(D, A),
        Prop::new("clientId", Kind::Guid, None).eq(D, A),
        Prop::new("consentType", Kind::String, None).eq(D, A),
        Prop::new("principalId", Kind::Guid, None).eq(D, A).null(A),
        Prop::new("resourceId", Kind::Guid, None).eq(D, A),
        Prop::new("scope", Kind::String, None),
    ],
    search: &[],
    max_top: 999,
    default_top: 100,
};

/// `identity/conditionalAccess/policies`, held in memory.
pub static CA_POLICIES: Resource = Resource {
    entity_set: "identity/conditionalAccess/policies",
    type_name: "conditionalAccessPolicy",
    directory: false,
    props: &[
        Prop::new("id", Kind::Guid, None).eq(D, D),
        Prop::new("displayName", Kind::String, None).eq(D, D).starts_with(D).order_by(D),
        Prop::new("state", Kind::Enum, None).eq(D, D),
        Prop::new("conditions", Kind::String, None),
        Prop::new("grantControls", Kind::String, None),
    ],
    search: &[],
    max_top: 1000,
    default_top: 1000,
};

/// `auditLogs/signIns` (newest first), held in memory.
pub static SIGN_INS: Resource = Resource {
    entity_set: "auditLogs/signIns",
    type_name: "signIn",
    directory: false,
    props: &[
        Prop::new("id", Kind::String, None).eq(D, D),
        Prop::new("createdDateTime", Kind::DateTime, None).eq(D, D).range(D).order_by(D),
        Prop::new("userId", Kind::Guid, None).eq(D, D),
        Prop::new("userPrincipalName", Kind::String, None).eq(D, D).starts_with(D),
        Prop::new("appId", Kind::Guid, None).eq(D, D),
        Prop::new("appDisplayName", Kind::String, None).eq(D, D).starts_with(D),
        Prop::new("conditionalAccessStatus", Kind::Enum, None).eq(D, D),
        Prop::new("status", Kind::String, None),
        Prop::new("deviceDetail", Kind::String, None),
        Prop::new("appliedConditionalAccessPolicies", Kind::String, None),
    ],
    search: &[],
    max_top: 1000,
    default_top: 1000,
};
