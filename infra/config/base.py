"""What every config section shares: camelCase keys, unknown keys rejected, frozen; common patterns."""

from __future__ import annotations

import ipaddress
import re
import typing
from typing import Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

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


# An image reference as the container runtimes parse it (github.com/distribution/reference,
# reference.go: the grammar, and NameTotalLengthMax = 255), ASCII only, with a tag or a digest.
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_PATH_PART = r"[a-z0-9]+(?:(?:[_.]|__|-+)[a-z0-9]+)*"
_IMAGE_NAME = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?/)?{_PATH_PART}(?:/{_PATH_PART})*"
_TAG, _DIGEST = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", r"sha256:[0-9a-f]{64}"
_PINNED_IMAGE = re.compile(rf"({_IMAGE_NAME})(?::{_TAG}(?:@{_DIGEST})?|@{_DIGEST})")
_IMAGE_NAME_MAX = 255


def _pinned(v: str) -> str:
    match = _PINNED_IMAGE.fullmatch(v) if len(v) <= 2 * _IMAGE_NAME_MAX else None
    if not match:
        raise ValueError(
            "does not match [registry[:port]/]repository:tag or repository@sha256:<64 hex> "
            "(ASCII; repository lowercase letters, digits and . _ - /)"
        )
    if len(match.group(1)) > _IMAGE_NAME_MAX:
        raise ValueError(f"the image name is longer than the {_IMAGE_NAME_MAX} characters registries allow")
    if v.endswith(":latest"):
        raise ValueError("use a pinned tag or digest, not :latest (e.g. vllm/vllm-openai:v0.32.0)")
    return v


# An image reference with a tag or digest, never `:latest`: what was planned is what runs.
PinnedImage = typing.Annotated[str, AfterValidator(_pinned)]
