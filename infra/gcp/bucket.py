"""The private weights bucket: IAM-only (uniform access), never public, CMEK, versioned.

The bucket waits for the GCS service agent's grant on its key (passed in `depends_on`): GCS
checks that it can use the key when the bucket is created.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

NONCURRENT_DAYS = 30  # old versions of multi-GB weight shards are deleted after this


@dataclass(frozen=True)
class WeightsBucketArgs:
    name: str  # globally unique
    location: str
    kms_key: pulumi.Input[str]  # crypto key id
    key_grant: pulumi.Resource  # the GCS agent's encrypter/decrypter grant on kms_key
    deletion_protection: bool


class WeightsBucket(pulumi.ComponentResource):
    bucket: gcp.storage.Bucket

    def __init__(self, name: str, args: WeightsBucketArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:gcp:WeightsBucket", name, None, opts)
        self.bucket = gcp.storage.Bucket(
            f"{name}-bucket",
            name=args.name,
            location=args.location.upper(),  # the API returns it upper-case; avoids a perpetual diff
            storage_class="STANDARD",
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            encryption={"default_kms_key_name": args.kms_key},
            versioning={"enabled": True},
            lifecycle_rules=[
                {"action": {"type": "Delete"}, "condition": {"days_since_noncurrent_time": NONCURRENT_DAYS}}
            ],
            # dev stacks can be destroyed with their (re-uploadable) weights; prod cannot.
            force_destroy=not args.deletion_protection,
            deletion_policy="PREVENT" if args.deletion_protection else "DELETE",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.key_grant]),
        )
        self.register_outputs({"name": self.bucket.name, "url": self.bucket.url})
