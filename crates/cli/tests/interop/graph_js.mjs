// Microsoft's JavaScript libraries against the local cloud: @azure/identity with a client
// secret and with a certificate (with and without its chain), each credential driving
// the Graph JavaScript SDK, whose PageIterator follows @odata.nextLink over every page.
// Usage: NODE_EXTRA_CA_CERTS=<ca.pem> node graph_js.mjs <endpoints.json>
import { readFileSync } from "node:fs";
import { ClientCertificateCredential, ClientSecretCredential } from "@azure/identity";
import { Client, PageIterator } from "@microsoft/microsoft-graph-client";
import { TokenCredentialAuthenticationProvider } from "@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js";

const ep = JSON.parse(readFileSync(process.argv[2], "utf8"));
const { tenant_id: tenant, test_client: app } = ep.seed;
const options = { authorityHost: ep.cloud.authority, disableInstanceDiscovery: true };
const credentials = {
  secret: new ClientSecretCredential(tenant, app.client_id, app.client_secret, options),
  certificate: new ClientCertificateCredential(tenant, app.client_id, { certificate: app.certificate_pem + app.private_key_pem }, options),
  "certificate with chain": new ClientCertificateCredential(
    tenant,
    app.client_id,
    { certificate: app.certificate_pem + app.private_key_pem },
    { ...options, sendCertificateChain: true },
  ),
};

const fail = (message) => {
  console.error(message);
  process.exit(1);
};

for (const [name, credential] of Object.entries(credentials)) {
  const token = await credential.getToken("https://graph.microsoft.com/.default");
  const claims = JSON.parse(Buffer.from(token.token.split(".")[1], "base64url").toString());
  if (claims.tid !== tenant || claims.appid !== app.client_id) fail(`${name}: unexpected claims ${JSON.stringify(claims)}`);

  const client = Client.initWithMiddleware({
    authProvider: new TokenCredentialAuthenticationProvider(credential, { scopes: ["https://graph.microsoft.com/.default"] }),
    baseUrl: ep.cloud.graph,
    customHosts: new Set([new URL(ep.cloud.graph).hostname]),
  });
  // Two users a page, only two properties, counted: the iterator follows every nextLink.
  const first = await client.api("/users").header("ConsistencyLevel", "eventual").top(2).select("id,userPrincipalName").count(true).get();
  const seen = [];
  const iterator = new PageIterator(client, first, (user) => {
    if (user.displayName !== undefined) fail(`${name}: $select was not kept across pages`);
    seen.push(user.userPrincipalName);
    return true;
  });
  await iterator.iterate();
  const total = first["@odata.count"];
  if (!iterator.isComplete() || seen.length !== total || new Set(seen).size !== total || total < 3) {
    fail(`${name}: PageIterator saw ${seen.length} users, @odata.count ${total}`);
  }
  const admin = await client.api(`/users/${encodeURIComponent(ep.seed.global_admin.upn)}`).get();
  if (admin.userPrincipalName.toLowerCase() !== ep.seed.global_admin.upn.toLowerCase()) fail(`${name}: users/{upn} returned ${JSON.stringify(admin)}`);
  // A Graph error reaches the SDK as a GraphError with Graph's code and request id.
  try {
    await client.api("/users").filter("startsWith(nonsense, 'a')").get();
    fail(`${name}: an invalid $filter was accepted`);
  } catch (e) {
    if (e.statusCode !== 400 || !e.code || !e.requestId) fail(`${name}: unexpected error ${e}`);
  }
  console.log(`@azure/identity ${name}: Graph JS SDK paged ${seen.length} users (@odata.count ${total}); a Graph error parsed as GraphError`);
}
