"""What GCP would answer, for `llz plan` (mock engine). Imports no SDK.

`outputs()` returns the computed attributes the program reads back (self links, endpoints,
emails, ...); `invoke()` answers data-source calls such as organizations.getProject (the project
NUMBER that Workload Identity principals need). Extend both as the GCP platform reads more.
"""

from __future__ import annotations

from typing import Any


def outputs(typ: str, name: str, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
    _, module, kind = typ.split(":")
    physical = inputs.get("name") or ctx.physical_name(typ, name)
    collection = kind[0].lower() + kind[1:] + "s"
    return {
        "name": physical,
        "selfLink": f"https://www.googleapis.com/{module.split('/')[0]}/v1/projects/{ctx.gcp_project}/"
        f"{collection}/{physical}",
    }


def invoke(token: str, args: dict[str, Any], ctx: Any) -> dict[str, Any]:
    if token == "gcp:organizations/getProject:getProject":
        project = args.get("projectId") or ctx.gcp_project
        return {"projectId": project, "number": ctx.gcp_project_number, "name": project, "id": f"projects/{project}"}
    if token == "gcp:organizations/getClientConfig:getClientConfig":
        return {"project": ctx.gcp_project, "region": ctx.region, "accessToken": "plan-token"}
    return {}
