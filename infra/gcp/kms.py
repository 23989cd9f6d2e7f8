"""Customer-managed keys: one for the weights bucket (CMEK), one for GKE secrets encryption, one for
the GPU nodes' boot disks (where the decrypted weights and the image cache sit).

Each Google service agent gets encrypt/decrypt on exactly its key, and the bucket and the cluster
wait for those grants: creating a CMEK bucket or an encrypted cluster before the agent may use the
key fails. Workloads need no KMS permission; GCS and GKE call KMS themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

ENCRYPTER_DECRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
ROTATION = "7776000s"  # 90 days


def agent_key(
    name: str,
    key_ring: pulumi.Input[str],
    member: pulumi.Input[str],
    deletion_protection: bool,
    opts: pulumi.ResourceOptions,
) -> tuple[gcp.kms.CryptoKey, gcp.kms.CryptoKeyIAMMember]:
    """A key `name` that rotates every 90 days, and encrypt/decrypt on it for the Google service
    agent `member` (`name-agent`): what a service's CMEK needs before the encrypted resource exists."""
    crypto_key = gcp.kms.CryptoKey(
        name,
        key_ring=key_ring,
        purpose="ENCRYPT_DECRYPT",
        rotation_period=ROTATION,
        deletion_policy="PREVENT" if deletion_protection else "DELETE",
        opts=opts,
    )
    grant = gcp.kms.CryptoKeyIAMMember(
        f"{name}-agent", crypto_key_id=crypto_key.id, role=ENCRYPTER_DECRYPTER, member=member, opts=opts
    )
    return crypto_key, grant


@dataclass(frozen=True)
class KeysArgs:
    location: str  # the region: a regional bucket and a regional cluster need keys in that region
    gcs_agent_email: pulumi.Input[str]  # from storage.get_project_service_account
    project_number: pulumi.Input[str]  # service agents: service-<NUMBER>@container-engine-robot / @compute-system
    deletion_protection: bool


class Keys(pulumi.ComponentResource):
    bucket_key: gcp.kms.CryptoKey
    cluster_key: gcp.kms.CryptoKey
    bucket_grant: gcp.kms.CryptoKeyIAMMember
    cluster_grant: gcp.kms.CryptoKeyIAMMember
    node_key: gcp.kms.CryptoKey
    node_grant: gcp.kms.CryptoKeyIAMMember

    def __init__(self, name: str, args: KeysArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:gcp:Keys", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ring = gcp.kms.KeyRing(f"{name}-ring", location=args.location, opts=child)

        def key(suffix: str, agent: pulumi.Input[str]) -> tuple[gcp.kms.CryptoKey, gcp.kms.CryptoKeyIAMMember]:
            member = pulumi.Output.concat("serviceAccount:", agent)
            return agent_key(f"{name}-{suffix}", ring.id, member, args.deletion_protection, child)

        self.bucket_key, self.bucket_grant = key("weights", args.gcs_agent_email)
        gke_agent = pulumi.Output.concat(
            "service-", args.project_number, "@container-engine-robot.iam.gserviceaccount.com"
        )
        self.cluster_key, self.cluster_grant = key("gke-secrets", gke_agent)
        # CMEK boot disks: Compute Engine creates the disks, so its service agent needs the key
        # (cloud.google.com/kubernetes-engine/docs/how-to/using-cmek#grant_permission).
        compute_agent = pulumi.Output.concat("service-", args.project_number, "@compute-system.iam.gserviceaccount.com")
        self.node_key, self.node_grant = key("node-disks", compute_agent)
        self.register_outputs(
            {"bucketKey": self.bucket_key.id, "clusterKey": self.cluster_key.id, "nodeKey": self.node_key.id}
        )
