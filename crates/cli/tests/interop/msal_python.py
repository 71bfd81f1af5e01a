"""MSAL for Python against the local cloud: client credentials with a secret and with a
certificate, each token verified against the published JWKS and used on Graph.

Usage: msal_python.py <endpoints.json>. Exits non-zero on the first failure.
"""
import json
import sys

import jwt  # PyJWT, a dependency of msal
import msal
import requests


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

    credentials = {
        "secret": client["client_secret"],
        "certificate": {
            "private_key": client["private_key_pem"],
            "thumbprint": client["thumbprint_sha1"],
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

    # A wrong secret surfaces the AADSTS code through MSAL.
    app = msal.ConfidentialClientApplication(
        client["client_id"], client_credential="wrong", authority=authority, instance_discovery=False, http_client=session
    )
    result = app.acquire_token_for_client(scopes=graph_scope)
    if 7000215 not in result.get("error_codes", []):
        sys.exit(f"wrong secret: expected AADSTS7000215, got {result}")
    print("msal-python wrong secret: AADSTS7000215")


if __name__ == "__main__":
    main(sys.argv[1])
