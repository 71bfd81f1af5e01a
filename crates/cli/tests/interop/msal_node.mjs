// MSAL for Node against the local cloud: client credentials with a secret.
// Usage: NODE_EXTRA_CA_CERTS=<ca.pem> node msal_node.mjs <endpoints.json>
import { readFileSync } from "node:fs";
import { ConfidentialClientApplication } from "@azure/msal-node";

const ep = JSON.parse(readFileSync(process.argv[2], "utf8"));
const { tenant_id: tenant, test_client: client } = ep.seed;
const authority = `${ep.cloud.authority}/${tenant}`;
const cca = new ConfidentialClientApplication({
  auth: {
    clientId: client.client_id,
    clientSecret: client.client_secret,
    authority,
    knownAuthorities: [new URL(ep.cloud.authority).host],
  },
});
const scopes = ["https://graph.microsoft.com/.default"];
const first = await cca.acquireTokenByClientCredential({ scopes });
if (!first?.accessToken) throw new Error(`no token: ${JSON.stringify(first)}`);
const claims = JSON.parse(Buffer.from(first.accessToken.split(".")[1], "base64url").toString());
if (claims.tid !== tenant || claims.appid !== client.client_id) throw new Error(`unexpected claims ${JSON.stringify(claims)}`);
const second = await cca.acquireTokenByClientCredential({ scopes });
if (!second.fromCache) throw new Error("the second call did not come from MSAL's cache");
const resp = await fetch(`${ep.cloud.graph}/v1.0/devices`, { headers: { Authorization: `Bearer ${first.accessToken}` } });
if (resp.status !== 200) throw new Error(`Graph refused the token: ${resp.status}`);
console.log("msal-node secret: token accepted by Graph");
