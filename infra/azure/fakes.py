"""What Azure would answer, for `llz plan` (mock engine). Imports no SDK.

`outputs()` returns the computed attributes the program reads back (ARM ids, principal ids,
OIDC issuer URLs, ...); `invoke()` answers calls such as authorization.getClientConfig. Extend
both as the Azure platform reads more.
"""

from __future__ import annotations

from typing import Any


def outputs(typ: str, name: str, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
    _, module, kind = typ.split(":")
    physical = ctx.physical_name(typ, name)
    group = inputs.get("resourceGroupName") or physical
    arm_id = (
        f"/subscriptions/{ctx.azure_subscription_id}/resourceGroups/{group}"
        f"/providers/Microsoft.{module[0].upper()}{module[1:]}/{kind[0].lower()}{kind[1:]}s/{physical}"
    )
    return {"id": arm_id, "name": physical}


def invoke(token: str, args: dict[str, Any], ctx: Any) -> dict[str, Any]:
    if token == "azure-native:authorization:getClientConfig":
        return {
            "subscriptionId": ctx.azure_subscription_id,
            "tenantId": ctx.azure_tenant_id,
            "clientId": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
            "objectId": "11111111-2222-4333-8444-555555555555",
        }
    return {}
