"""MSAL for Python against the local cloud: client credentials with a secret and with a
certificate (RS256 with a SHA-1 thumbprint, PS256 with a SHA-256 one), each token
verified against the published JWKS (whose keys carry x5t and x5c) and used on Graph;
one signed client assertion reused, as MSAL does, for tokens to two resources.

Usage: msal_python.py <endpoints.json>. Exits non-zero on the first failure.
"""
import base64
import hashlib
import json
import sys

import jwt  # PyJWT, a dependency of msal
import msal
import requests
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding


class RecordingSession(requests.Session):
    """A session that remembers the client assertions MSAL sends to the token endpoint."""

    def __init__(self):
        super().__init__()
        self.assertions = []

    def post(self, url, data=None, **kwargs):
        if isinstance(data, dict) and "client_assertion" in data:
            self.assertions.append(data["client_assertion"])
        return super().post(url, data=data, **kwargs)


def main(path):
    ep = json.load(open(path))
    seed = ep["seed"]
    client = seed["test_client"]
    authority = f"{ep['cloud']['authority']}/{seed['tenant_id']}"
    graph_scope = ["https://graph.microsoft.com/.default"]

    # The machine may export CA-bundle variables; trust exactly the local CA instead.
    session = requests.Session()
    session.trust_env = False
    session.verify = ep["ca_certificate"]

    config = session.get(f"{authority}/v2.0/.well-known/openid-configuration").json()
    jwks = session.get(config["jwks_uri"]).json()

    for key in jwks["keys"]:
        der = base64.b64decode(key["x5c"][0])
        x509.load_der_x509_certificate(der)
        if base64.urlsafe_b64encode(hashlib.sha1(der).digest()).rstrip(b"=").decode() != key["x5t"]:
            sys.exit(f"JWKS key {key['kid']}: x5t is not the SHA-1 thumbprint of its x5c")

    cert_der = x509.load_pem_x509_certificate(client["certificate_pem"].encode()).public_bytes(Encoding.DER)
    credentials = {
        "secret": client["client_secret"],
        "certificate": {
            "private_key": client["private_key_pem"],
            "thumbprint": client["thumbprint_sha1"],
            "public_certificate": client["certificate_pem"],
        },
        "certificate-sha256": {
            "private_key": client["private_key_pem"],
            "thumbprint_sha256": hashlib.sha256(cert_der).hexdigest(),
            "public_certificate": client["certificate_pem"],
        },
    }
    for name, credential in credentials.items():
        app = msal.ConfidentialClientApplication(
            client["client_id"],
            client_credential=credential,
            authority=authority,
            instance_discovery=False,
            http_client=session,
        )
        result = app.acquire_token_for_client(scopes=graph_scope)
        if "access_token" not in result:
            sys.exit(f"{name}: no token: {result}")
        token = result["access_token"]
        kid = jwt.get_unverified_header(token)["kid"]
        key = next((k for k in jwks["keys"] if k["kid"] == kid), None)
        if key is None:
            sys.exit(f"{name}: token key {kid} is not in the JWKS")
        claims = jwt.decode(token, jwt.PyJWK(key).key, algorithms=["RS256"], audience="https://graph.microsoft.com")
        if claims["tid"] != seed["tenant_id"] or claims["appid"] != client["client_id"]:
            sys.exit(f"{name}: unexpected claims {claims}")
        again = app.acquire_token_for_client(scopes=graph_scope)
        if again.get("token_source") != "cache":
            sys.exit(f"{name}: the second call did not come from MSAL's cache: {again.get('token_source')}")
        devices = session.get(f"{ep['cloud']['graph']}/v1.0/devices", headers={"Authorization": f"Bearer {token}"})
        if devices.status_code != 200:
            sys.exit(f"{name}: Graph refused the token: {devices.status_code} {devices.text}")
        print(f"msal-python {msal.__version__} {name}: token verified (appidacr={claims.get('appidacr')})")

    assertion_reused_for_two_resources(ep, authority, credentials["certificate"])

    # A wrong secret surfaces the AADSTS code through MSAL.
    app = msal.ConfidentialClientApplication(
        client["client_id"], client_credential="wrong", authority=authority, instance_discovery=False, http_client=session
    )
    result = app.acquire_token_for_client(scopes=graph_scope)
    if 7000215 not in result.get("error_codes", []):
        sys.exit(f"wrong secret: expected AADSTS7000215, got {result}")
    print("msal-python wrong secret: AADSTS7000215")


def assertion_reused_for_two_resources(ep, authority, credential):
    """MSAL signs one assertion and presents it again until shortly before it expires:
    here for Microsoft Graph and then the Intune API."""
    session = RecordingSession()
    session.trust_env = False
    session.verify = ep["ca_certificate"]
    client = ep["seed"]["test_client"]
    app = msal.ConfidentialClientApplication(
        client["client_id"], client_credential=credential, authority=authority, instance_discovery=False, http_client=session
    )
    for scope in ["https://graph.microsoft.com/.default", "https://api.manage.microsoft.com//.default"]:
        result = app.acquire_token_for_client(scopes=[scope])
        if "access_token" not in result:
            sys.exit(f"{scope}: no token with a reused assertion: {result}")
    if len(session.assertions) != 2 or session.assertions[0] != session.assertions[1]:
        sys.exit(f"expected one assertion sent twice, saw {len(set(session.assertions))} distinct in {len(session.assertions)}")
    print("msal-python: one client assertion accepted for two resources")


if __name__ == "__main__":
    main(sys.argv[1])
