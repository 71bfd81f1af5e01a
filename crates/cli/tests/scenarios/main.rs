//! End-to-end tests through the public HTTPS surfaces of every role. One binary, one
//! module per suite. Set `CLOUDCONNECTOR_TEST_POSTGRES=postgres://…` to run every test on
//! fresh PostgreSQL databases instead of SQLite files.

mod chromium;
mod harness;

mod bad_input_cloud;
mod bad_input_endpoints;
mod bad_input_services;
mod batching;
mod browser_consoles;
mod browser_rollout;
mod compliance_partner;
mod compliance_preview;
mod connector_nodes;
mod demo;
mod deploy;
mod device_compliance;
mod fault_storm;
mod graded_enforcement;
mod graph_administration;
mod graph_odata;
mod graph_partners;
mod identity;
mod interop;
mod inventory_api;
mod jamf_import;
mod live_partner;
mod load_balancer;
mod mdm_inventory;
mod mdm_nodes;
mod multi_tenant;
mod operations;
mod real_inventory;
mod recovery;
mod retention;
mod retries;
mod s1_prerequisites;
mod s2_remove_manual;
mod s3_connect;
mod s4_compliance_sign_in;
mod s4_policies;
mod s5_s6_termination;
mod s7_manual;
mod s8_support_checks;
mod scale_out;
mod schema_driven;
mod secrets_at_rest;
