"""What AWS would answer, for `llz plan` (mock engine). Imports no SDK.

`outputs()` returns the computed attributes the program reads back (ARNs, endpoints, ...);
`invoke()` answers data-source calls. Extend both as the AWS platform reads more.
"""

from __future__ import annotations

from typing import Any


def outputs(typ: str, name: str, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
    _, module, kind = typ.split(":")
    service = module.split("/")[0]
    physical = inputs.get("name") or inputs.get("bucket") or ctx.physical_name(typ, name)
    return {
        "arn": f"arn:aws:{service}:{ctx.region}:{ctx.aws_account_id}:{kind.lower()}/{physical}",
        "name": physical,
    }


def invoke(token: str, args: dict[str, Any], ctx: Any) -> dict[str, Any]:
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        return {
            "accountId": ctx.aws_account_id,
            "arn": f"arn:aws:iam::{ctx.aws_account_id}:user/llz-plan",
            "userId": "AIDAPLANPLANPLANPLAN",
        }
    if token == "aws:index/getRegion:getRegion":
        return {"name": ctx.region, "region": ctx.region, "id": ctx.region}
    if token == "aws:index/getPartition:getPartition":
        return {"partition": "aws", "dnsSuffix": "amazonaws.com"}
    return {}
