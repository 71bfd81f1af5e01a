"""Microsoft's Graph SDK for Python against the local cloud: lists deviceManagementPartners,
managedDevices and deviceCompliancePolicies and checks every object parses.

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
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from msgraph import GraphRequestAdapter, GraphServiceClient
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
    await http.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
