"""Microsoft's Graph SDK for Python against the local cloud: lists deviceManagementPartners,
managedDevices and deviceCompliancePolicies and checks every object parses; reads single
items by key and alternate key (by_managed_device_id, service_principals_with_app_id,
users_with_user_principal_name), counts with $count, and pages users with $top.

Usage: msgraph_python.py <endpoints.json>. Exits non-zero on the first failure.
"""
import asyncio
import json
import sys
from urllib.parse import urlparse

import httpx
import msal
import requests
from azure.core.credentials import AccessToken
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph.generated.models.mac_o_s_compliance_policy import MacOSCompliancePolicy


class MsalCredential:
    """An azure-core style credential backed by MSAL's client-credentials flow."""

    def __init__(self, ep):
        session = requests.Session()
        session.trust_env = False
        session.verify = ep["ca_certificate"]
        client = ep["seed"]["test_client"]
        self.app = msal.ConfidentialClientApplication(
            client["client_id"],
            client_credential=client["client_secret"],
            authority=f"{ep['cloud']['authority']}/{ep['seed']['tenant_id']}",
            instance_discovery=False,
            http_client=session,
        )

    def get_token(self, *scopes, **kwargs):
        result = self.app.acquire_token_for_client(scopes=list(scopes))
        if "access_token" not in result:
            raise RuntimeError(f"no token: {result}")
        return AccessToken(result["access_token"], int(result.get("expires_in", 3599)) + int(__import__("time").time()))

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
        MsalCredential(ep), scopes=["https://graph.microsoft.com/.default"], allowed_hosts=[host.split(":")[0], host]
    )
    http = httpx.AsyncClient(verify=ep["ca_certificate"], trust_env=False)
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = f"{ep['cloud']['graph']}/v1.0"
    graph = GraphServiceClient(request_adapter=adapter)

    partners = await graph.device_management.device_management_partners.get()
    if not partners.value:
        sys.exit("no deviceManagementPartners")
    for p in partners.value:
        print(f"partner {p.id}: state={p.partner_state} appId={p.single_tenant_app_id} heartbeat={p.last_heartbeat_date_time}")

    devices = await graph.device_management.managed_devices.get()
    if not devices.value:
        sys.exit("no managedDevices")
    for d in devices.value:
        if d.azure_a_d_device_id is None or d.compliance_state is None or d.management_agent is None:
            sys.exit(f"managedDevice {d.id} did not parse: {d}")
    print(f"managedDevices: {len(devices.value)} ({', '.join(sorted({str(d.compliance_state) for d in devices.value}))})")

    policies = await graph.device_management.device_compliance_policies.get()
    macos = [p for p in policies.value or [] if isinstance(p, MacOSCompliancePolicy)]
    if not macos:
        sys.exit(f"no macOSCompliancePolicy among {policies.value}")
    for p in macos:
        print(f"policy {p.display_name}: storageRequireEncryption={p.storage_require_encryption}")

    await single_items(graph, devices.value[0])
    await counts_and_pages(graph, ep)
    await http.aclose()


async def single_items(graph, listed):
    """Items by key and by alternate key, as the SDK's request builders address them."""
    one = await graph.device_management.managed_devices.by_managed_device_id(listed.id).get()
    if one.id != listed.id or one.azure_a_d_device_id != listed.azure_a_d_device_id:
        sys.exit(f"by_managed_device_id returned {one}")
    intune = "0000000a-0000-0000-c000-000000000000"
    sp = await graph.service_principals_with_app_id(intune).get()
    if sp is None or sp.app_id != intune:
        sys.exit(f"service_principals_with_app_id returned {sp}")
    print(f"managedDevice {one.id} by key; servicePrincipal {sp.id} by appId")


async def counts_and_pages(graph, ep):
    """$count as a segment and as an option (with ConsistencyLevel: eventual), and every
    page of users followed through @odata.nextLink."""
    eventual = RequestConfiguration()
    eventual.headers.add("ConsistencyLevel", "eventual")
    devices = await graph.devices.count.get(request_configuration=eventual)
    if not isinstance(devices, int) or devices < 1:
        sys.exit(f"devices/$count returned {devices!r}")
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(count=True, top=2, select=["id", "userPrincipalName"])
    config = RequestConfiguration(query_parameters=query)
    config.headers.add("ConsistencyLevel", "eventual")
    page = await graph.users.get(request_configuration=config)
    total, seen, pages = page.odata_count, [], 0
    while page is not None:
        pages += 1
        seen += [u.user_principal_name for u in page.value]
        if any(u.display_name is not None for u in page.value):
            sys.exit("$select was not kept across pages")
        page = await graph.users.with_url(page.odata_next_link).get() if page.odata_next_link else None
    if total is None or len(seen) != total or len(set(seen)) != total or pages < 2:
        sys.exit(f"paging: @odata.count={total}, {len(seen)} users over {pages} pages")
    admin = ep["seed"]["global_admin"]["upn"]
    user = await graph.users_with_user_principal_name(admin).get()
    if user is None or user.user_principal_name.lower() != admin.lower():
        sys.exit(f"users_with_user_principal_name returned {user}")
    print(f"devices/$count={devices}; users: @odata.count={total} over {pages} pages; {admin} by userPrincipalName")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
