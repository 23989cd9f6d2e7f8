"""What every cloud's in-network CI runner section shares (`aws.runner`, `azure.runner`).

`cluster.apiAccess: runner` puts GitHub Actions runners inside the stack's network, built by the
`<stack>-bootstrap` stack (docs/first-deploy.md). Each cloud's settings subclass this with its
own keys; the rules across sections (runner needs egress, only with apiAccess runner) are in
`infra.config.checks.api_access_fits_cloud`.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from infra.config.base import Section

# pulumi-stack.yml gives a job 90 minutes; the runner must outlive it (setup, then `pulumi up`).
JOB_TIMEOUT_MINUTES = 90


class RunnerBase(Section):
    # owner/name of the GitHub repository whose workflows the runners serve.
    repository: str = Field(pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
    # How long one runner may live (CodeBuild build_timeout, Container Apps replicaTimeout): above
    # the job's 90 minutes, so the cloud never kills a `pulumi up` the workflow still waits for.
    timeout_minutes: int = Field(default=120, ge=JOB_TIMEOUT_MINUTES + 10, le=480)
    max_runners: int = Field(default=2, ge=1, le=20)  # concurrent jobs per runner kind
    # An HTTP(S) forward proxy for the runner's egress (GitHub, the state backend, package
    # registries): required with network.egress none, where the network has no NAT.
    egress_proxy: str | None = Field(default=None, pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$")


def proxy_variables(proxy: str | None, direct: Sequence[str]) -> dict[str, str]:
    """The runner's proxy environment (both spellings: the Actions runner reads the lower-case
    ones, most tools the upper-case); `direct` lists what is reached without it."""
    if proxy is None:
        return {}
    pairs = {"HTTPS_PROXY": proxy, "HTTP_PROXY": proxy, "NO_PROXY": ",".join(direct)}
    return pairs | {k.lower(): v for k, v in pairs.items()}
