//! The collections Graph reads from the database (users, devices, managed devices), with
//! a compiled `$filter` / `$search` (`odata::sql`), ordered and paged by the database.

use crate::entra::directory::User;
use crate::error::Result;
use crate::odata::sql::{Bind, Sql};
use crate::store::{DeviceRow, MANAGED_COLUMNS, ManagedDeviceRow, Store};
use wire::TenantId;

/// One page of a collection: the condition (`$filter` and `$search`, compiled with
/// placeholders from `$2`; `$1` is the tenant), its order, and where the page starts.
#[derive(Debug)]
pub struct Page {
    pub condition: Sql,
    /// `ORDER BY` text (`odata::sql::order_by`).
    pub order: String,
    /// Keyset paging: only rows whose key is greater (default order only).
    pub after: Option<String>,
    pub offset: i64,
    pub limit: i64,
}

/// A resource's base query: its columns and table with the alias its property table
/// names, the tenant it belongs to, the rows it never shows, and its key.
struct Base {
    select: &'static str,
    tenant: &'static str,
    /// `AND …` that every query adds (empty: none).
    always: &'static str,
    key: &'static str,
}

const USERS: Base = Base {
    select: "SELECT u.id, u.tenant_id, u.upn, u.display_name, u.password_hash, u.global_admin, u.account_enabled, u.mail_nickname FROM users u",
    tenant: "u.tenant_id",
    always: "",
    key: "u.id",
};
const DEVICES: Base = Base {
    select: "SELECT d.id, d.tenant_id, d.device_id, d.display_name, d.owner_user_id, d.operating_system, d.os_version, d.public_key, \
             d.certificate_thumbprint, d.is_compliant, d.is_managed, d.mdm_app_id, d.registered_ms, d.compliance_updated_ms, \
             d.last_sign_in_ms, d.account_enabled FROM devices d",
    tenant: "d.tenant_id",
    always: "",
    key: "d.id",
};
/// Intune lists the devices of device management partners, not those a compliance
/// partner only gave a verdict on.
const MANAGED: Base =
    Base { select: "SELECT {MANAGED} FROM managed_devices m", tenant: "m.tenant_id", always: " AND m.verdict_only = 0", key: "m.id" };

fn bind_all<'q, O>(
    mut q: sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>> {
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s.as_str()),
            Bind::Int(n) => q.bind(*n),
            Bind::Null => q.bind(Option::<String>::None),
        };
    }
    q
}

impl Base {
    fn select(&self) -> String {
        self.select.replace("{MANAGED}", &MANAGED_COLUMNS.split(", ").map(|c| format!("m.{}", c.trim())).collect::<Vec<_>>().join(", "))
    }

    /// `WHERE` text and the binds after the tenant's, for a page.
    fn condition(&self, page: &Page) -> (String, Vec<Bind>) {
        let mut text = format!("{} = $1{}", self.tenant, self.always);
        let mut binds = page.condition.binds.clone();
        if !page.condition.text.is_empty() {
            text.push_str(&format!(" AND {}", page.condition.text));
        }
        if let Some(after) = &page.after {
            binds.push(Bind::Text(after.clone()));
            text.push_str(&format!(" AND {} > ${}", self.key, binds.len() + 1));
        }
        (text, binds)
    }
}

impl Store {
    async fn graph_page<T>(&self, base: &Base, tenant_id: &TenantId, page: &Page) -> Result<Vec<T>>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        let (condition, mut binds) = base.condition(page);
        binds.push(Bind::Int(page.limit));
        binds.push(Bind::Int(page.offset));
        let sql = format!("{} WHERE {condition} ORDER BY {} LIMIT ${} OFFSET ${}", base.select(), page.order, binds.len(), binds.len() + 1);
        let q = bind_all(sqlx::query_as::<_, T>(&sql).bind(tenant_id), &binds);
        Ok(q.fetch_all(self.pool()).await?)
    }

    async fn graph_count(&self, base: &Base, tenant_id: &TenantId, condition: &Sql) -> Result<i64> {
        let page = Page { condition: condition.clone(), order: String::new(), after: None, offset: 0, limit: 0 };
        let (text, binds) = base.condition(&page);
        let sql = format!("SELECT COUNT(*) FROM ({} WHERE {text}) counted", base.select());
        let q = bind_all(sqlx::query_as::<_, (i64,)>(&sql).bind(tenant_id), &binds);
        Ok(q.fetch_one(self.pool()).await?.0)
    }

    /// A page of a tenant's users.
    pub async fn graph_users(&self, tenant_id: &TenantId, page: &Page) -> Result<Vec<User>> {
        self.graph_page(&USERS, tenant_id, page).await
    }

    pub async fn graph_users_count(&self, tenant_id: &TenantId, condition: &Sql) -> Result<i64> {
        self.graph_count(&USERS, tenant_id, condition).await
    }

    /// A page of a tenant's Entra devices.
    pub async fn graph_devices(&self, tenant_id: &TenantId, page: &Page) -> Result<Vec<DeviceRow>> {
        self.graph_page(&DEVICES, tenant_id, page).await
    }

    pub async fn graph_devices_count(&self, tenant_id: &TenantId, condition: &Sql) -> Result<i64> {
        self.graph_count(&DEVICES, tenant_id, condition).await
    }

    /// A page of a tenant's partner-managed devices.
    pub async fn graph_managed_devices(&self, tenant_id: &TenantId, page: &Page) -> Result<Vec<ManagedDeviceRow>> {
        self.graph_page(&MANAGED, tenant_id, page).await
    }

    pub async fn graph_managed_devices_count(&self, tenant_id: &TenantId, condition: &Sql) -> Result<i64> {
        self.graph_count(&MANAGED, tenant_id, condition).await
    }
}
