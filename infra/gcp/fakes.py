"""What GCP would answer, for `llz plan` (mock engine). Imports no SDK.

`outputs()` returns the computed attributes the program reads back (ids, self links, the
cluster endpoint and CA, service-account emails, KMS key ids, bucket URLs); `invoke()` answers
data-source calls: organizations.getProject (the project NUMBER that Workload Identity principals
and service agents need) and storage.getProjectServiceAccount (the GCS service agent that must
hold the CMEK grant). Everything derives from the stack, type and name, so plans are repeatable.
"""

from __future__ import annotations

import base64
from typing import Any

# A syntactically valid, obviously fake CA: what kubeconfig rendering needs, nothing more.
_FAKE_CA = base64.b64encode(
    b"-----BEGIN CERTIFICATE-----\nMIIBplanonlyNOTAREALCERTIFICATE\n-----END CERTIFICATE-----\n"
).decode()


def _project(inputs: dict[str, Any], ctx: Any) -> str:
    return inputs.get("project") or ctx.gcp_project


def _ids(kind: str, physical: str, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """Resource-specific computed outputs, in the formats the real provider returns."""
    project = _project(inputs, ctx)
    region = inputs.get("region") or inputs.get("location") or ctx.region
    if kind == "Network":
        return {"id": f"projects/{project}/global/networks/{physical}"}
    if kind in ("Subnetwork", "Router"):
        collection = "subnetworks" if kind == "Subnetwork" else "routers"
        return {"id": f"projects/{project}/regions/{region}/{collection}/{physical}"}
    if kind == "KeyRing":
        return {"id": f"projects/{project}/locations/{region}/keyRings/{physical}"}
    if kind == "CryptoKey":
        return {"id": f"{inputs['keyRing']}/cryptoKeys/{physical}"}
    if kind == "Account":
        email = f"{inputs['accountId']}@{project}.iam.gserviceaccount.com"
        return {
            "id": f"projects/{project}/serviceAccounts/{email}",
            "name": f"projects/{project}/serviceAccounts/{email}",
            "email": email,
            "member": f"serviceAccount:{email}",
            "uniqueId": str(10**20 + int(ctx.digest("sa", physical, length=12), 16)),
        }
    if kind == "Cluster":
        n = int(ctx.digest("endpoint", physical, length=4), 16)
        endpoints = inputs.get("controlPlaneEndpointsConfig") or {}
        dns = endpoints.get("dnsEndpointConfig")
        if dns is not None:  # <uid>.<region>.gke.goog, as the Container API reports it
            uid = f"gke-{ctx.digest('dns', physical, length=32)}-{ctx.gcp_project_number}"
            endpoints = {**endpoints, "dnsEndpointConfig": {**dns, "endpoint": f"{uid}.{region}.gke.goog"}}
        return {
            "id": f"projects/{project}/locations/{region}/clusters/{physical}",
            "endpoint": f"34.{118 + n % 8}.{n // 256 % 256}.{n % 256}",
            "masterAuth": {
                "clusterCaCertificate": _FAKE_CA,
                "clientCertificateConfig": {"issueClientCertificate": False},
            },
            "masterVersion": f"{inputs.get('minMasterVersion', '1.35')}.5-gke.1000",
            # The control plane's internal address (PSC: an address GKE takes in the node subnet).
            "privateClusterConfig": {**(inputs.get("privateClusterConfig") or {}), "privateEndpoint": "10.0.0.2"},
            **({"controlPlaneEndpointsConfig": endpoints} if endpoints else {}),
        }
    if kind == "NodePool":
        cluster = inputs.get("cluster", "")
        return {"id": f"projects/{project}/locations/{region}/clusters/{cluster}/nodePools/{physical}"}
    if kind == "Bucket":
        return {"id": physical, "url": f"gs://{physical}"}
    if kind == "ServiceIdentity":  # a Google service agent: service-<NUMBER>@gcp-sa-<service>
        service = inputs["service"].removesuffix(".googleapis.com")
        email = f"service-{ctx.gcp_project_number}@gcp-sa-{service}.iam.gserviceaccount.com"
        return {
            "id": f"projects/{project}/services/{inputs['service']}",
            "email": email,
            "member": f"serviceAccount:{email}",
        }
    if kind == "NotificationChannel":  # the server assigns the channel id
        return {"name": f"projects/{project}/notificationChannels/{int(ctx.digest('nc', physical, length=12), 16)}"}
    if kind == "AlertPolicy":
        return {"name": f"projects/{project}/alertPolicies/{int(ctx.digest('ap', physical, length=12), 16)}"}
    if kind == "ManagedZone":
        return {"id": f"projects/{project}/managedZones/{physical}"}
    return {}


def outputs(typ: str, name: str, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
    _, module, kind = typ.split(":")
    physical = inputs.get("name") or ctx.physical_name(typ, name)
    collection = kind[0].lower() + kind[1:] + "s"
    out: dict[str, Any] = {}
    if ctx.declares(typ, "name"):  # generic answers only where the SDK declares them
        out["name"] = physical
    if ctx.declares(typ, "selfLink"):
        service = module.split("/")[0]
        out["selfLink"] = (
            f"https://www.googleapis.com/{service}/v1/projects/{_project(inputs, ctx)}/{collection}/{physical}"
        )
    return {**out, **_ids(kind, physical, inputs, ctx)}


def invoke(token: str, args: dict[str, Any], ctx: Any) -> dict[str, Any] | None:
    if token == "gcp:organizations/getProject:getProject":
        project = args.get("projectId") or ctx.gcp_project
        return {"projectId": project, "number": ctx.gcp_project_number, "name": project, "id": f"projects/{project}"}
    if token == "gcp:storage/getProjectServiceAccount:getProjectServiceAccount":
        email = f"service-{ctx.gcp_project_number}@gs-project-accounts.iam.gserviceaccount.com"
        project = args.get("project") or ctx.gcp_project
        return {"emailAddress": email, "member": f"serviceAccount:{email}", "project": project, "id": project}
    if token == "gcp:organizations/getClientConfig:getClientConfig":
        return {"project": ctx.gcp_project, "region": ctx.region, "accessToken": "plan-token"}
    return None  # no fake: the engine reports it
