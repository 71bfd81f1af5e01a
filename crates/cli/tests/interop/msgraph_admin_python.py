"""Microsoft's Graph SDK for Python administering a tenant as an administrator does: MSAL
signs the Global Administrator in to Microsoft Graph Command Line Tools (username and
password), then the SDK creates a user, assigns an Intune licence, creates a security
group and adds the user by reference, creates a report-only Conditional Access policy and
a macOS compliance policy with its noncompliance action, disables the user, and deletes
what it made. Every answer must parse into the SDK's models.

Usage: msgraph_admin_python.py <endpoints.json>. Exits non-zero on the first failure.
"""
import asyncio
import json
import sys
import time
from urllib.parse import urlparse

import httpx
import msal
import requests
from azure.core.credentials import AccessToken
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.assigned_license import AssignedLicense
from msgraph.generated.models.conditional_access_applications import ConditionalAccessApplications
from msgraph.generated.models.conditional_access_client_app import ConditionalAccessClientApp
from msgraph.generated.models.conditional_access_condition_set import ConditionalAccessConditionSet
from msgraph.generated.models.conditional_access_grant_control import ConditionalAccessGrantControl
from msgraph.generated.models.conditional_access_grant_controls import ConditionalAccessGrantControls
from msgraph.generated.models.conditional_access_policy import ConditionalAccessPolicy
from msgraph.generated.models.conditional_access_policy_state import ConditionalAccessPolicyState
from msgraph.generated.models.conditional_access_users import ConditionalAccessUsers
from msgraph.generated.models.device_compliance_action_item import DeviceComplianceActionItem
from msgraph.generated.models.device_compliance_action_type import DeviceComplianceActionType
from msgraph.generated.models.device_compliance_scheduled_action_for_rule import DeviceComplianceScheduledActionForRule
from msgraph.generated.models.group import Group
from msgraph.generated.models.mac_o_s_compliance_policy import MacOSCompliancePolicy
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.password_profile import PasswordProfile
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.models.user import User
from msgraph.generated.users.item.assign_license.assign_license_post_request_body import AssignLicensePostRequestBody

GRAPH_COMMAND_LINE_TOOLS = "14d82eec-204b-4c2f-b7e8-296a70dab67e"
INTUNE_SKU = "061f9ace-7d42-4136-88ac-31dc755f143f"


class AdminCredential:
    """An azure-core style credential backed by MSAL's username-and-password flow."""

    def __init__(self, ep):
        session = requests.Session()
        session.trust_env = False
        session.verify = ep["ca_certificate"]
        self.admin = ep["seed"]["global_admin"]
        # MSAL asks `https://<host>/common/userrealm/…` before a password sign-in, always
        # on port 443; the local cloud listens elsewhere, so MSAL is told what a 404 there
        # would tell it: a managed (not federated) domain, sign in directly.
        authority_host = urlparse(ep["cloud"]["authority"]).hostname
        msal.authority.Authority._domains_without_user_realm_discovery.add(authority_host)
        self.app = msal.PublicClientApplication(
            GRAPH_COMMAND_LINE_TOOLS,
            authority=f"{ep['cloud']['authority']}/organizations",
            instance_discovery=False,
            http_client=session,
        )

    def get_token(self, *scopes, **kwargs):
        result = self.app.acquire_token_by_username_password(self.admin["upn"], self.admin["password"], scopes=list(scopes))
        if "access_token" not in result:
            raise RuntimeError(f"no token: {result}")
        return AccessToken(result["access_token"], int(result.get("expires_in", 3599)) + int(time.time()))

    async def close(self):
        pass

    async def __aenter__(self):
        return self

    async def __aexit__(self, *args):
        pass


async def main(path):
    ep = json.load(open(path))
    host = urlparse(ep["cloud"]["graph"]).netloc
    auth = AzureIdentityAuthenticationProvider(
        AdminCredential(ep), scopes=["https://graph.microsoft.com/.default"], allowed_hosts=[host.split(":")[0], host]
    )
    http = httpx.AsyncClient(verify=ep["ca_certificate"], trust_env=False)
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = f"{ep['cloud']['graph']}/v1.0"
    graph = GraphServiceClient(request_adapter=adapter)
    domain = ep["seed"]["tenant_domain"]

    user = await graph.users.post(User(
        account_enabled=True, display_name="Grace Hopper", mail_nickname="grace", user_principal_name=f"grace@{domain}",
        password_profile=PasswordProfile(password="Compiler-A0-1952", force_change_password_next_sign_in=False),
    ))
    if not user.id or user.user_principal_name != f"grace@{domain}":
        sys.exit(f"users.post returned {user}")
    try:
        await graph.users.post(User(
            account_enabled=True, display_name="Grace", mail_nickname="grace2", user_principal_name=f"grace@{domain}",
            password_profile=PasswordProfile(password="Compiler-A0-1952"),
        ))
        sys.exit("a taken userPrincipalName was accepted")
    except ODataError as e:
        if e.response_status_code != 400 or "already exists" not in e.error.message:
            sys.exit(f"duplicate user: {e.response_status_code} {e.error.message}")
    licensed = await graph.users.by_user_id(user.id).assign_license.post(
        AssignLicensePostRequestBody(add_licenses=[AssignedLicense(sku_id=INTUNE_SKU, disabled_plans=[])], remove_licenses=[])
    )
    if [str(l.sku_id) for l in licensed.assigned_licenses or []] != [INTUNE_SKU]:
        sys.exit(f"assignLicense returned {licensed.assigned_licenses}")
    print(f"user {user.id} {user.user_principal_name}, licences {[str(l.sku_id) for l in licensed.assigned_licenses]}")

    group = await graph.groups.post(Group(display_name="Engineering Macs", mail_enabled=False, mail_nickname="eng-macs", security_enabled=True))
    await graph.groups.by_group_id(group.id).members.ref.post(
        ReferenceCreate(odata_id=f"https://graph.microsoft.com/v1.0/directoryObjects/{user.id}")
    )
    members = await graph.groups.by_group_id(group.id).members.get()
    if [m.id for m in members.value] != [user.id]:
        sys.exit(f"members: {members.value}")
    print(f"group {group.id} with member {user.id}")

    await policies(graph, group.id)

    await graph.users.by_user_id(user.id).patch(User(account_enabled=False))
    disabled = await graph.users.by_user_id(user.id).get()
    if disabled.account_enabled is not False:
        sys.exit(f"accountEnabled after PATCH: {disabled.account_enabled}")
    await graph.groups.by_group_id(group.id).members.by_directory_object_id(user.id).ref.delete()
    await graph.groups.by_group_id(group.id).delete()
    await graph.users.by_user_id(user.id).delete()
    try:
        await graph.users.by_user_id(user.id).get()
        sys.exit("a deleted user was found")
    except ODataError as e:
        if e.response_status_code != 404:
            sys.exit(f"deleted user: {e.response_status_code}")
    print("user disabled, group and user deleted")
    await http.aclose()


async def policies(graph, group_id):
    """A report-only Conditional Access policy and a macOS compliance policy with a block
    action after 24 hours, read back through the SDK's models."""
    ca = await graph.identity.conditional_access.policies.post(ConditionalAccessPolicy(
        display_name="Require a compliant Mac (report-only)",
        state=ConditionalAccessPolicyState.EnabledForReportingButNotEnforced,
        conditions=ConditionalAccessConditionSet(
            users=ConditionalAccessUsers(include_groups=[group_id]),
            applications=ConditionalAccessApplications(include_applications=["All"]),
            client_app_types=[ConditionalAccessClientApp.All],
        ),
        grant_controls=ConditionalAccessGrantControls(operator="OR", built_in_controls=[ConditionalAccessGrantControl.CompliantDevice]),
    ))
    read = await graph.identity.conditional_access.policies.by_conditional_access_policy_id(ca.id).get()
    if read.state != ConditionalAccessPolicyState.EnabledForReportingButNotEnforced or read.conditions.users.include_groups != [group_id]:
        sys.exit(f"conditional access policy read back as {read}")
    await graph.identity.conditional_access.policies.by_conditional_access_policy_id(ca.id).delete()

    policy = await graph.device_management.device_compliance_policies.post(MacOSCompliancePolicy(
        odata_type="#microsoft.graph.macOSCompliancePolicy",
        display_name="macOS: firewall on",
        firewall_enabled=True,
        scheduled_actions_for_rule=[DeviceComplianceScheduledActionForRule(
            rule_name="PasswordRequired",
            scheduled_action_configurations=[DeviceComplianceActionItem(action_type=DeviceComplianceActionType.Block, grace_period_hours=24)],
        )],
    ))
    if not isinstance(policy, MacOSCompliancePolicy) or policy.firewall_enabled is not True:
        sys.exit(f"deviceCompliancePolicies.post returned {policy}")
    await graph.device_management.device_compliance_policies.by_device_compliance_policy_id(policy.id).delete()
    print(f"conditional access policy {ca.id} and compliance policy {policy.id} created, read and deleted")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
