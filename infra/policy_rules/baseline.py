"""The cross-cloud baseline (issue 16): what the program promises on every cloud alike, one rule per
cloud and promise: node metadata locked down, key rotation, flow logs, control-plane logs, secrets
encryption, bucket versioning, HTTPS-only default-deny storage, a network policy engine, no ingress
from the internet, no wildcard trust.

Kept apart from aws.py / gcp.py / azure.py (which hold each cloud's own guards). Property names are
the inputs as registered (camelCase), from the SDK docstrings of the pinned providers:
pulumi_aws 7.51.1 (ec2 LaunchTemplate `metadataOptions.httpTokens` / `httpPutResponseHopLimit`,
kms Key `enableKeyRotation`, ec2 FlowLog `vpcId`, eks Cluster `enabledClusterLogTypes`, eks Addon
`configurationValues` with vpc-cni's `enableNetworkPolicy`), pulumi_gcp 10.2.0 (container NodePool
`nodeConfig.metadata`, kms CryptoKey `rotationPeriod`, compute Subnetwork `logConfig`, Cluster
`loggingConfig.enableComponents` (`APISERVER`, ...), `databaseEncryption.state`/`keyName`,
`networkPolicy.enabled` / `datapathProvider: ADVANCED_DATAPATH`, storage Bucket `versioning.enabled`,
compute Firewall `direction`/`sourceRanges`), pulumi_azure_native 3.29.0 (storage StorageAccount
`enableHttpsTrafficOnly` / `networkRuleSet.defaultAction`, BlobServiceProperties
`isVersioningEnabled`, ManagedCluster `securityProfile.azureKeyVaultKms.enabled` /
`networkProfile.networkPolicy`, monitor DiagnosticSetting `resourceUri`, network FlowLog
`targetResourceId`, NetworkSecurityGroup `securityRules` / SecurityRule `direction`, `access`,
`sourceAddressPrefix(es)`, managedidentity FederatedIdentityCredential `subject`).

`RULES` are enforced; `PENDING` are promises the shipped program does not keep yet (a rule there
would fail every plan of that cloud): tests/test_policy_plan.py shows each one catching today's
plan and going quiet when the fix is planted, so registering it is one line once the owner fixes
the program (docs/policy-ci.md, "Pending rules").
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from typing import Any

from infra.internet import covers_the_internet

from .model import (
    Res,
    Rule,
    Stack,
    as_list,
    dig,
    is_true,
    json_doc,
    known,
    mapping,
    mappings,
    not_true,
    unknown_along,
)

EVERYONE = ("0.0.0.0/0", "::/0", "*", "Internet", "any", "Any")


def _opens_to_internet(cidrs: list[Any]) -> list[str]:
    """The entries of `cidrs` that admit the whole internet (0.0.0.0/0, ::/0, Internet, or IPv4
    ranges that together cover every public address)."""
    plain = [c for c in cidrs if isinstance(c, str) and known(c)]
    found = [c for c in plain if c.strip() in EVERYONE]
    networks = []
    for c in plain:
        try:
            networks.append(ipaddress.IPv4Network(c.strip(), strict=False))
        except ValueError:
            continue
    if not found and networks and covers_the_internet(networks):
        found = [str(n) for n in networks]
    return found


# --- AWS ---------------------------------------------------------------------------------------------

AWS_LAUNCH_TEMPLATE = ("aws:ec2/launchTemplate:LaunchTemplate",)
AWS_KMS_KEY = ("aws:kms/key:Key",)
AWS_VPC = ("aws:ec2/vpc:Vpc",)
AWS_FLOW_LOG = ("aws:ec2/flowLog:FlowLog",)
AWS_EKS = ("aws:eks/cluster:Cluster",)
AWS_ADDON = ("aws:eks/addon:Addon",)
AWS_SG = ("aws:ec2/securityGroup:SecurityGroup",)
AWS_SG_RULES = (
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:ec2/securityGroupRule:SecurityGroupRule",
)
AWS_ROLE = ("aws:iam/role:Role",)
EKS_LOG_TYPES = ("api", "audit", "authenticator")


def _aws_imdsv2(res: Res) -> Iterator[str]:
    """Pods must not reach the node role through IMDS: v2 tokens required, one network hop."""
    if unknown_along(res.props, "metadataOptions"):
        return
    tokens = res.get("metadataOptions.httpTokens")
    if known(tokens) and tokens != "required":
        yield f"metadataOptions.httpTokens is {tokens!r}; must be 'required' (IMDSv2)"
    hops = res.get("metadataOptions.httpPutResponseHopLimit")
    if known(hops) and not (isinstance(hops, int) and hops <= 1):
        now = "not set" if hops is None else hops
        yield f"metadataOptions.httpPutResponseHopLimit is {now}; must be 1 (pods cannot reach IMDS)"


def _aws_key_rotation(res: Res) -> Iterator[str]:
    if not_true(res.props.get("enableKeyRotation")):
        yield "enableKeyRotation must be true"


def _aws_flow_logs(stack: Stack) -> Iterator[tuple[Res, str]]:
    for vpc in stack.of_type(*AWS_VPC):
        logs = stack.attached(vpc, AWS_FLOW_LOG, "vpcId", None)
        if not logs:
            yield vpc, "VPC has no flow log (ec2.FlowLog with vpcId)"


def _aws_control_plane_logs(res: Res) -> Iterator[str]:
    types = res.props.get("enabledClusterLogTypes")
    if not known(types) or not all(known(t) for t in as_list(types)):
        return
    missing = [t for t in EKS_LOG_TYPES if t not in as_list(types)]
    if missing:
        yield f"enabledClusterLogTypes lacks {', '.join(missing)}"


def _vpc_cni_network_policy(addon: Res) -> bool | None:
    values = addon.props.get("configurationValues")
    if not known(values):
        return None
    try:
        config = json.loads(values) if isinstance(values, str) else mapping(values)
    except ValueError:
        return False
    return is_true(mapping(config).get("enableNetworkPolicy"))


def _aws_network_policy(stack: Stack) -> Iterator[tuple[Res, str]]:
    for cluster in stack.of_type(*AWS_EKS):
        addons = stack.attached(cluster, AWS_ADDON, "clusterName", None)
        if not all(known(a.props.get("addonName")) for a in addons):
            continue  # unknown during preview
        cni = [a for a in addons if a.props.get("addonName") == "vpc-cni"]
        verdicts = [_vpc_cni_network_policy(a) for a in cni]
        if None in verdicts:
            continue
        if not any(verdicts):
            yield cluster, 'no vpc-cni add-on with configurationValues {"enableNetworkPolicy": "true"}'


def _aws_ingress(res: Res) -> Iterator[str]:
    if res.type in AWS_SG:
        for i, rule in enumerate(mappings(res.props.get("ingress"))):
            opens = _opens_to_internet(as_list(rule.get("cidrBlocks")) + as_list(rule.get("ipv6CidrBlocks")))
            if opens:
                yield f"ingress[{i}] admits {', '.join(opens)}"
        return
    if res.type == "aws:ec2/securityGroupRule:SecurityGroupRule" and res.props.get("type") != "ingress":
        return
    cidrs = as_list(res.props.get("cidrBlocks")) + as_list(res.props.get("ipv6CidrBlocks"))
    cidrs += [res.props.get("cidrIpv4"), res.props.get("cidrIpv6")]
    opens = _opens_to_internet(cidrs)
    if opens:
        yield f"ingress admits {', '.join(opens)}"


def _aws_wildcard_trust(res: Res) -> Iterator[str]:
    doc = json_doc(res.props.get("assumeRolePolicy"))
    for statement in mappings(dig(doc, "Statement")):
        if statement.get("Effect", "Allow") != "Allow":
            continue
        principal = statement.get("Principal")
        aws = as_list(mapping(principal).get("AWS"))
        if principal == "*" or "*" in aws or "NotPrincipal" in statement:
            yield "trust policy allows any principal ('*' or NotPrincipal); name the service or role"


# --- GCP ---------------------------------------------------------------------------------------------

GCP_NODE_POOL = ("gcp:container/nodePool:NodePool",)
GCP_CLUSTER = ("gcp:container/cluster:Cluster",)
GCP_CRYPTO_KEY = ("gcp:kms/cryptoKey:CryptoKey",)
GCP_SUBNET = ("gcp:compute/subnetwork:Subnetwork",)
GCP_BUCKET = ("gcp:storage/bucket:Bucket",)
GCP_FIREWALL = ("gcp:compute/firewall:Firewall",)
GKE_CONTROL_PLANE_LOGS = ("APISERVER", "CONTROLLER_MANAGER", "SCHEDULER")
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")


def _gcp_legacy_metadata(res: Res) -> Iterator[str]:
    """The v0.1/v1beta1 metadata endpoints (no Metadata-Flavor header) stay off."""
    configs = [("nodeConfig", res.props.get("nodeConfig"))] if res.type in GCP_NODE_POOL else []
    removed = res.props.get("removeDefaultNodePool")
    if res.type in GCP_CLUSTER and "nodeConfig" in res.props and known(removed) and not is_true(removed):
        configs.append(("nodeConfig", res.props["nodeConfig"]))
    for where, config in configs:
        if unknown_along(config, "metadata.disable-legacy-endpoints"):
            continue
        if not is_true(dig(config, "metadata.disable-legacy-endpoints")):
            yield f'{where}.metadata["disable-legacy-endpoints"] must be "true"'


def _gcp_key_rotation(res: Res) -> Iterator[str]:
    period = res.props.get("rotationPeriod")
    if known(period) and not period:
        yield "no rotationPeriod; rotate the key (e.g. 7776000s, 90 days)"


def _gcp_flow_logs(res: Res) -> Iterator[str]:
    if known(res.props.get("logConfig")) and not res.props.get("logConfig"):
        yield "no logConfig: VPC flow logs are off for this subnetwork"


def _gcp_control_plane_logs(res: Res) -> Iterator[str]:
    components = res.get("loggingConfig.enableComponents")
    if unknown_along(res.props, "loggingConfig.enableComponents") or not all(known(c) for c in as_list(components)):
        return
    missing = [c for c in GKE_CONTROL_PLANE_LOGS if c not in as_list(components)]
    if missing:
        yield f"loggingConfig.enableComponents lacks {', '.join(missing)} (control-plane logs)"


def _gcp_secrets_encryption(res: Res) -> Iterator[str]:
    if unknown_along(res.props, "databaseEncryption.state") or unknown_along(res.props, "databaseEncryption.keyName"):
        return
    if res.get("databaseEncryption.state") != "ENCRYPTED" or not res.get("databaseEncryption.keyName"):
        yield "databaseEncryption must be state ENCRYPTED with a Cloud KMS keyName (application-layer encryption)"


def _gcp_network_policy(res: Res) -> Iterator[str]:
    datapath, enabled = res.props.get("datapathProvider"), res.get("networkPolicy.enabled")
    if not (known(datapath) and known(enabled)):
        return
    if datapath != "ADVANCED_DATAPATH" and not is_true(enabled):
        yield "no network policy engine: set datapathProvider ADVANCED_DATAPATH (Dataplane V2) or networkPolicy.enabled"


def _gcp_versioning(res: Res) -> Iterator[str]:
    if not unknown_along(res.props, "versioning.enabled") and not is_true(res.get("versioning.enabled")):
        yield "versioning.enabled must be true"


def _gcp_firewall_ingress(res: Res) -> Iterator[str]:
    direction = res.props.get("direction") or "INGRESS"
    if direction != "INGRESS" or not mappings(res.props.get("allows")):
        return
    opens = _opens_to_internet(as_list(res.props.get("sourceRanges")))
    if opens:
        yield f"ingress firewall allows {', '.join(opens)}"


def _gcp_public_members(res: Res) -> Iterator[str]:
    token = res.type.rsplit(":", 1)[-1]
    if not (res.type.startswith("gcp:") and token.endswith(("IAMMember", "IAMBinding"))):
        return
    for member in as_list(res.props.get("member")) + as_list(res.props.get("members")):
        if member in PUBLIC_MEMBERS:
            yield f"grants {res.props.get('role')} to {member}"


# --- Azure -------------------------------------------------------------------------------------------

AZ_ACCOUNT = ("azure-native:storage:StorageAccount",)
AZ_BLOB_SERVICE = ("azure-native:storage:BlobServiceProperties",)
AZ_AKS = ("azure-native:containerservice:ManagedCluster",)
AZ_DIAGNOSTICS = ("azure-native:monitor:DiagnosticSetting",)
AZ_VNET = ("azure-native:network:VirtualNetwork",)
AZ_FLOW_LOG = ("azure-native:network:FlowLog",)
AZ_NSG = ("azure-native:network:NetworkSecurityGroup", "azure-native:network:SecurityRule")
AZ_FEDERATED = ("azure-native:managedidentity:FederatedIdentityCredential",)
AZ_KEY = ("azure-native:keyvault:Key",)


def _az_https_only(res: Res) -> Iterator[str]:
    if not_true(res.props.get("enableHttpsTrafficOnly")):
        yield "enableHttpsTrafficOnly must be true"


def _az_default_deny(res: Res) -> Iterator[str]:
    action = res.get("networkRuleSet.defaultAction")
    if not unknown_along(res.props, "networkRuleSet.defaultAction") and action != "Deny":
        yield f"networkRuleSet.defaultAction is {action or 'not set'}; must be 'Deny'"


def _az_versioning(stack: Stack) -> Iterator[tuple[Res, str]]:
    for account in stack.of_type(*AZ_ACCOUNT):
        services = stack.attached(account, AZ_BLOB_SERVICE, "accountName", account.props.get("accountName"))
        if any(not known(s.props.get("isVersioningEnabled")) for s in services):
            continue
        if not any(is_true(s.props.get("isVersioningEnabled")) for s in services):
            yield account, "no BlobServiceProperties with isVersioningEnabled: true"


def _az_network_policy(res: Res) -> Iterator[str]:
    policy = res.get("networkProfile.networkPolicy")
    if not unknown_along(res.props, "networkProfile.networkPolicy") and policy not in ("azure", "calico", "cilium"):
        yield f"networkProfile.networkPolicy is {policy or 'not set'}; set azure, calico or cilium"


def _az_flow_logs(stack: Stack) -> Iterator[tuple[Res, str]]:
    for vnet in stack.of_type(*AZ_VNET):
        if not stack.attached(vnet, AZ_FLOW_LOG, "targetResourceId", None):
            yield vnet, "VNet has no network.FlowLog (targetResourceId = the VNet)"


def _az_nsg_ingress(res: Res) -> Iterator[str]:
    rules = mappings(res.props.get("securityRules")) if res.type == AZ_NSG[0] else [res.props]
    for rule in rules:
        if rule.get("direction") != "Inbound" or rule.get("access") != "Allow":
            continue
        opens = _opens_to_internet([rule.get("sourceAddressPrefix"), *as_list(rule.get("sourceAddressPrefixes"))])
        if opens:
            yield f"inbound rule {rule.get('name')!r} allows {', '.join(opens)}"


def _az_federated_subject(res: Res) -> Iterator[str]:
    subject, issuer = res.props.get("subject"), res.props.get("issuer")
    if known(subject) and (not subject or "*" in str(subject)):
        yield f"subject {subject!r} must name one service account (system:serviceaccount:<ns>:<name>)"
    if known(issuer) and not issuer:
        yield "issuer must be the cluster's OIDC issuer"


def _az_key_rotation(res: Res) -> Iterator[str]:
    if unknown_along(res.props, "properties.rotationPolicy.lifetimeActions"):
        return
    entries = as_list(res.get("properties.rotationPolicy.lifetimeActions"))
    if any(not known(e) or unknown_along(e, "action.type") for e in entries):
        return
    actions = [dig(a, "action.type") for a in mappings(entries)]
    if "rotate" not in [str(a).lower() for a in actions]:
        yield "properties.rotationPolicy has no Rotate lifetime action"


RULES = [
    Rule("azure-blob-versioning", "Storage accounts keep blob versions.", check_stack=_az_versioning),
    Rule(
        "gcp-gke-control-plane-logs",
        "GKE sends API server, controller manager and scheduler logs.",
        types=GCP_CLUSTER,
        check=_gcp_control_plane_logs,
    ),
    # AWS
    Rule(
        "aws-imdsv2",
        "Node launch templates require IMDSv2 with hop limit 1.",
        types=AWS_LAUNCH_TEMPLATE,
        check=_aws_imdsv2,
    ),
    Rule("aws-kms-key-rotation", "KMS keys rotate.", types=AWS_KMS_KEY, check=_aws_key_rotation),
    Rule("aws-vpc-flow-logs", "Every VPC has a flow log.", check_stack=_aws_flow_logs),
    Rule(
        "aws-eks-control-plane-logs",
        "EKS sends api, audit and authenticator logs.",
        types=AWS_EKS,
        check=_aws_control_plane_logs,
    ),
    Rule("aws-eks-network-policy", "EKS enforces NetworkPolicy (VPC CNI).", check_stack=_aws_network_policy),
    Rule(
        "aws-no-internet-ingress",
        "No security group ingress from the internet.",
        types=(*AWS_SG, *AWS_SG_RULES),
        check=_aws_ingress,
    ),
    Rule("aws-no-wildcard-trust", "No role trusts any principal.", types=AWS_ROLE, check=_aws_wildcard_trust),
    # GCP
    Rule(
        "gcp-gke-legacy-metadata-off",
        "GKE nodes disable the legacy metadata endpoints.",
        types=(*GCP_CLUSTER, *GCP_NODE_POOL),
        check=_gcp_legacy_metadata,
    ),
    Rule("gcp-kms-key-rotation", "Cloud KMS keys rotate.", types=GCP_CRYPTO_KEY, check=_gcp_key_rotation),
    Rule(
        "gcp-gke-secrets-encryption",
        "GKE encrypts secrets with a Cloud KMS key.",
        types=GCP_CLUSTER,
        check=_gcp_secrets_encryption,
    ),
    Rule("gcp-bucket-versioning", "GCS buckets keep versions.", types=GCP_BUCKET, check=_gcp_versioning),
    Rule("gcp-gke-network-policy", "GKE enforces NetworkPolicy.", types=GCP_CLUSTER, check=_gcp_network_policy),
    Rule(
        "gcp-no-internet-ingress",
        "No ingress firewall rule from the internet.",
        types=GCP_FIREWALL,
        check=_gcp_firewall_ingress,
    ),
    Rule(
        "gcp-no-public-members",
        "No IAM grant to allUsers / allAuthenticatedUsers.",
        types=("*",),
        check=_gcp_public_members,
    ),
    # Azure
    Rule("azure-storage-https-only", "Storage accounts accept HTTPS only.", types=AZ_ACCOUNT, check=_az_https_only),
    Rule(
        "azure-storage-default-deny",
        "Storage accounts' network rules deny by default.",
        types=AZ_ACCOUNT,
        check=_az_default_deny,
    ),
    Rule("azure-aks-network-policy", "AKS enforces NetworkPolicy.", types=AZ_AKS, check=_az_network_policy),
    Rule(
        "azure-no-internet-ingress",
        "No network security group rule admits the internet.",
        types=AZ_NSG,
        check=_az_nsg_ingress,
    ),
    Rule(
        "azure-federated-credential-subject",
        "Federated identity credentials trust one named subject of one issuer.",
        types=AZ_FEDERATED,
        check=_az_federated_subject,
    ),
    Rule("azure-key-rotation", "Key Vault keys rotate.", types=AZ_KEY, check=_az_key_rotation),
]

PENDING = [
    Rule("azure-vnet-flow-logs", "Every VNet has a flow log.", check_stack=_az_flow_logs),
]
