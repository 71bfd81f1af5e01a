"""Rules of the mdm's inventory report that span several items of a list, which JSON
Schema cannot state: the operation's description gives them, and the server refuses a
report that breaks them (422). Generated valid reports are kept within them, so that a
refusal of a valid report still fails the run."""

import os

import schemathesis

INVENTORY = r"/api/agent/v1/inventory$"


def _within_rules(body):
    if not isinstance(body, dict):
        return True
    users = body.get("local_users")
    if isinstance(users, list):
        # macOS compares account names without regard to case (the server trims too).
        keys = [u["username"].strip().lower() for u in users if isinstance(u, dict) and isinstance(u.get("username"), str)]
        if len(keys) != len(set(keys)):
            return False
    volumes = body.get("volumes")
    if isinstance(volumes, list):
        items = [v for v in volumes if isinstance(v, dict)]
        names = [v["name"] for v in items if isinstance(v.get("name"), str)]
        if len(names) != len(set(names)):
            return False
        if sum(1 for v in items if v.get("boot") is True) > 1:
            return False
    return True


@schemathesis.hook.apply_to(path_regex=INVENTORY)
def filter_body(ctx, body):
    return _within_rules(body)


# The cloud's partner upload names its tenant in the body (`TenantId`), which must be the
# tenant of the endpoint and token: JSON Schema cannot tie a body to a token, so a
# generated message of valid shape is addressed to the tenant under test.
UPLOAD = r"/StatelessPartnerDeviceDataSyncService/"


@schemathesis.hook.apply_to(path_regex=UPLOAD, method="PUT")
def map_body(ctx, body):
    tenant = os.environ.get("CLOUDCONNECTOR_TENANT")
    if tenant and isinstance(body, dict) and isinstance(body.get("TenantId"), str):
        body["TenantId"] = tenant
    return body
