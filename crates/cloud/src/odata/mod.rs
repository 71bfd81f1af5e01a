//! OData as Microsoft Graph speaks it: the `$filter` language, query options checked
//! against each resource's property table, and their translation to SQL (collections read
//! from the database) and to in-memory checks (small collections).

pub mod eval;
pub mod filter;
pub mod query;
pub mod resource;
pub mod sql;
