"""What every config section shares: camelCase keys, unknown keys rejected, frozen; common patterns."""

from __future__ import annotations

import ipaddress
import typing
from typing import Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from infra.conventions import PINNED_IMAGE

# Counts that land in Kubernetes or cloud-API integer fields (replicas, node counts, runAsUser, ...)
# are int32 there; no bound of ours is larger, so no value can overflow the field it feeds.
INT32_MAX = 2**31 - 1

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"
LABEL_KEY = r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"
Labels = dict[typing.Annotated[str, Field(pattern=LABEL_KEY)], typing.Annotated[str, Field(pattern=LABEL_VALUE)]]


def _cidr_text(v: Any) -> Any:
    # pydantic would read a number as an address (5 -> 0.0.0.5/32, true -> 0.0.0.1/32): CIDRs are text.
    if not isinstance(v, (str, ipaddress.IPv4Network)):
        raise ValueError("need an IPv4 CIDR as text, e.g. 10.40.0.0/16")
    return v


Cidr = typing.Annotated[ipaddress.IPv4Network, BeforeValidator(_cidr_text)]


class Section(BaseModel):
    """Base for config objects: camelCase keys, unknown keys rejected, immutable."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)


def _not_latest(v: str) -> str:
    if v.endswith(":latest"):
        raise ValueError("use a pinned tag or digest, not :latest (e.g. vllm/vllm-openai:v0.11.0)")
    return v


# An image reference with a tag or digest, never `:latest`: what was planned is what runs.
PinnedImage = typing.Annotated[str, Field(pattern=PINNED_IMAGE), AfterValidator(_not_latest)]
