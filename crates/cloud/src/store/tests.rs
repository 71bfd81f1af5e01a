//! The store on its own, against an in-memory SQLite database: the states of a partner
//! and of a Conditional Access policy go in as enums and come back as the same enums.

use std::sync::Arc;

use super::*;
use crate::entra::conditional_access::{Conditions, GrantControl, Policy, PolicyState};
use crate::entra::directory::Tenant;
use crate::intune::partner::{self, PartnerState};

pub(super) async fn memory_store() -> Store {
    Store::connect(&platform::db::memory_url(), Arc::new(platform::secrets::SecretBox::ephemeral())).await.unwrap()
}

async fn store_with_tenant() -> Store {
    let store = memory_store().await;
    let tenant = Tenant {
        id: "tenant-1".into(),
        domain: "contoso.example".into(),
        display_name: "Contoso".into(),
        intune_licence: 1,
        entra_p1_licence: 1,
        scale_unit: "unit1".into(),
    };
    store.insert_tenant(&tenant, 1).await.unwrap();
    store
}

#[tokio::test]
async fn a_partners_state_round_trips() {
    let store = store_with_tenant().await;
    let mut p = partner::new_partner(&"tenant-1".into(), 1);
    assert_eq!(p.partner_state, PartnerState::Unavailable);
    partner::provision(&mut p, Some("https://mdm.example/enroll".into()), None, 2);
    store.save_partner(&p).await.unwrap();
    assert_eq!(store.partner(&"tenant-1".into()).await.unwrap().unwrap().partner_state, PartnerState::Enabled);
    partner::terminate(&mut p, 3);
    store.save_partner(&p).await.unwrap();
    assert_eq!(store.partner(&"tenant-1".into()).await.unwrap().unwrap().partner_state, PartnerState::Terminated);
}

#[tokio::test]
async fn a_policys_state_round_trips() {
    let store = store_with_tenant().await;
    let policy = Policy {
        id: "p".into(),
        display_name: "Require compliant Mac".into(),
        state: PolicyState::EnabledForReportingButNotEnforced,
        conditions: Conditions { include_users: vec!["All".into()], ..Default::default() },
        grant: GrantControl::CompliantDevice,
    };
    store.insert_ca_policy(&"tenant-1".into(), &policy, 1).await.unwrap();
    assert_eq!(store.ca_policies(&"tenant-1".into()).await.unwrap(), std::slice::from_ref(&policy));
    assert!(store.set_ca_policy_state(&"tenant-1".into(), "p", PolicyState::Disabled).await.unwrap());
    assert!(!store.set_ca_policy_state(&"other".into(), "p", PolicyState::Enabled).await.unwrap(), "another tenant's policy is not found");
    assert_eq!(store.ca_policies(&"tenant-1".into()).await.unwrap()[0].state, PolicyState::Disabled);
}
