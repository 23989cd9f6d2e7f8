"""AWS platform: VPC + endpoints, EKS, GPU node group, private S3 weights bucket, Pod Identity.

`build(cfg)` registers, under one explicit `aws` provider (default providers are disabled):
Network (private subnets in N AZs, optional NAT) -> Endpoints (S3 gateway + interface endpoints)
-> WeightsBucket (KMS, TLS-only, optionally VPC-endpoint-only reads) -> Cluster (EKS, add-ons,
system nodes) -> GpuPool (GPU node group, autoscaler tags, NVIDIA device plugin on AL2023) ->
WeightsReader (Pod Identity or IRSA role reading only the model prefix) -> ClusterAutoscaler
(EKS has none built in), and returns the Platform the serving component deploys onto.
docs/aws.md explains the choices.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pulumi
import pulumi_aws as aws
import yaml

from infra import keda
from infra.aws import versions
from infra.aws.audit import Account, AuditLogs, AuditLogsArgs
from infra.aws.autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs
from infra.aws.bucket import WeightsBucket, WeightsBucketArgs
from infra.aws.cluster import AmiFamily, Cluster, ClusterArgs
from infra.aws.endpoints import Endpoints, EndpointsArgs, StsAddress
from infra.aws.gpu_pool import GpuPool, GpuPoolArgs
from infra.aws.iam import key_policy, key_use
from infra.aws.identity import WeightsReader, WeightsReaderArgs, WeightsWriter
from infra.aws.logs import ContainerLogs, ContainerLogsArgs
from infra.aws.monitoring import Monitoring, MonitoringArgs
from infra.aws.network import Network, NetworkArgs
from infra.aws.registry import Registry, RegistryArgs
from infra.aws.runner import admit_runners, from_bootstrap
from infra.aws.settings import (
    CACHES,
    AwsConfig,
    caches,
    choose_zones,
    collector_subnets,
    gpu_zone_indexes,
    log_retention_days,
    registry_warnings,
    stack_images,
    sts_endpoint_addresses,
)
from infra.config.schema import StackConfig
from infra.conventions import (
    GPU_POOL,
    KEDA_NAMESPACE,
    KEDA_OPERATOR_SA,
    LWS_IMAGE,
    SYSTEM_POOL,
    pool_labels,
    stager_service_account,
    tags,
)
from infra.fit import gpu_node_disk_gb
from infra.images import parse
from infra.kube import cluster_provider, exec_kubeconfig
from infra.observability import alerts
from infra.platform import (
    GPU_TOLERATION,
    EgressRule,
    GpuScheduling,
    ManagedMetrics,
    Platform,
    QueueScaler,
    WorkloadIdentity,
)

GPU_LABELS, SYSTEM_LABELS = pool_labels(GPU_POOL), pool_labels(SYSTEM_POOL)
# The serving pods' labels the collector keeps (infra/serving/component.py's selector, name part).
SERVING_SELECTOR = {"app.kubernetes.io/name": "vllm"}
POD_IDENTITY_AGENT = EgressRule("169.254.170.23/32", (80,), "EKS Pod Identity agent: the pod's AWS credentials")
# Both controllers' spellings: the in-tree/cloud-controller-manager service controller reads
# `aws-load-balancer-internal`; the AWS Load Balancer Controller (if installed) reads `-scheme`.
INTERNAL_LB_ANNOTATIONS = {
    "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
    "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
}


def _zones(aws_cfg: AwsConfig, invoke: pulumi.InvokeOptions) -> list[tuple[str, str]]:
    """(name, zone ID) of the cluster's zones: standard AZs (Local/Wavelength Zones excluded) that
    EKS accepts, by zone ID (infra.aws.settings.choose_zones)."""
    found = aws.get_availability_zones(
        state="available",
        filters=[{"name": "opt-in-status", "values": ["opt-in-not-required"]}],
        opts=invoke,
    )
    return choose_zones(list(found.names), list(found.zone_ids), aws_cfg.availability_zones)


def _gpu_zones(zones: list[tuple[str, str]], instance_types: list[str], invoke: pulumi.InvokeOptions) -> list[int]:
    """Indexes of the zones that offer a GPU instance type, asked by zone ID (names differ per account)."""
    offered = aws.ec2.get_instance_type_offerings(
        location_type="availability-zone-id",
        filters=[
            {"name": "instance-type", "values": instance_types},
            {"name": "location", "values": [zone_id for _, zone_id in zones]},
        ],
        opts=invoke,
    )
    return gpu_zone_indexes(zones, set(offered.locations), instance_types)


def _s3_egress(region: str, invoke: pulumi.InvokeOptions) -> list[EgressRule]:
    """S3 is reached through the gateway endpoint, i.e. at the addresses of the region's S3 prefix list."""
    cidrs = aws.ec2.get_prefix_list(name=f"com.amazonaws.{region}.s3", opts=invoke).cidr_blocks
    return [EgressRule(c, (443,), "S3 weights bucket via the gateway endpoint (S3 prefix list)") for c in sorted(cidrs)]


def _direct_reason(ref: str) -> str:
    """Why an image the stack runs is not served from its ECR cache (the plan's `imagesPulledDirectly`)."""
    host = parse(ref).host
    if host == "nvcr.io":
        return (
            "ECR has no pull-through cache for nvcr.io: pulled from NVIDIA; with network.egress none copy it into "
            "ECR from CI and set aws.devicePluginImage / aws.dcgmExporterImage (docs/aws.md)"
        )
    if host in CACHES:
        return f"no credential for ECR's {host} cache (aws.upstreamCredentials): pulled from {host}"
    return "your own registry: used as it is"


def build(cfg: StackConfig) -> Platform:
    aws_cfg = cfg.aws
    assert aws_cfg is not None  # infra.config.resolve fills in the defaults
    stack = pulumi.get_stack()
    region = cfg.region
    cluster_name = f"llz-{stack}"
    provider = aws.Provider("aws", region=region, default_tags={"tags": tags(stack)})
    invoke = pulumi.InvokeOptions(provider=provider)
    on_aws = pulumi.ResourceOptions(providers=[provider])
    partition = aws.get_partition(opts=invoke).partition
    account_id = aws.get_caller_identity(opts=invoke).account_id
    irsa = aws_cfg.identity == "irsa"
    account = Account(account_id, region, partition)
    key_admins = sorted({aws_cfg.deployer_role_arn, *aws_cfg.admin_role_arns})  # from config, never the caller
    retention = log_retention_days(cfg)
    name_prefix = f"llz-{re.sub(r'[^a-z0-9-]', '-', stack.lower())[:24]}-"
    no_egress = cfg.network.egress == "none"
    ami = AmiFamily.of(aws_cfg.ami_type)

    zones = _zones(aws_cfg, invoke)
    gpu_zones = _gpu_zones(zones, list(cfg.gpu.spot_types), invoke)
    in_network_ci = cfg.cluster.api_access == "runner"  # VPC + CI runners come from <stack>-bootstrap
    network = (
        from_bootstrap(len(zones))
        if in_network_ci
        else Network(
            "network",
            NetworkArgs(
                cfg.network.cidr,
                [name for name, _ in zones],
                nat_egress=not no_egress,
                cluster_name=cluster_name,
                account=account,
                key_admin_arns=key_admins,
                log_retention_days=retention,
            ),
            on_aws,
        )
    )
    endpoints = Endpoints(
        "endpoints",
        EndpointsArgs(
            region=region,
            vpc_id=network.vpc_id,
            vpc_cidr=str(cfg.network.cidr),
            subnet_ids=network.private_subnet_ids,
            route_table_ids=network.private_route_table_ids,
            no_egress=no_egress,
            account_id=account_id,
            partition=partition,
            s3_allowed_buckets=aws_cfg.s3_endpoint_allowed_buckets,
            sts_addresses=[
                StsAddress(subnet_id, reservation, ip)
                for subnet_id, (reservation, ip) in zip(
                    network.private_subnet_ids, sts_endpoint_addresses(cfg.network.cidr, len(zones)), strict=True
                )
            ]
            if irsa
            else [],
        ),
        on_aws,
    )
    bucket = WeightsBucket(
        "weights",
        WeightsBucketArgs(
            s3_endpoint_id=endpoints.s3_endpoint_id,
            restrict_reads_to_vpc_endpoint=aws_cfg.restrict_reads_to_vpc_endpoint,
            exempt_principal_arns=sorted({*key_admins, *aws_cfg.weights_writer_arns}),
            force_destroy=not cfg.deletion_protection,
            name_prefix=name_prefix,
        ),
        pulumi.ResourceOptions.merge(on_aws, pulumi.ResourceOptions(protect=cfg.deletion_protection)),
    )
    # Who read or wrote the weights (CloudTrail data events) and the key of every log group; before
    # the cluster, whose control-plane log group it encrypts.
    audit = AuditLogs(
        "audit",
        AuditLogsArgs(
            account=account,
            admin_arns=key_admins,
            weights_bucket_arn=bucket.bucket_arn,
            trail_name=f"{cluster_name}-weights",
            retention_days=retention,
            force_destroy=not cfg.deletion_protection,
            name_prefix=f"{name_prefix[:30]}audit-",
        ),
        pulumi.ResourceOptions.merge(on_aws, pulumi.ResourceOptions(protect=cfg.deletion_protection)),
    )
    cluster = Cluster(
        "eks",
        ClusterArgs(
            cluster_name=cluster_name,
            kubernetes_version=cfg.cluster.kubernetes_version,
            subnet_ids=network.private_subnet_ids,
            api_allowed_cidrs=cfg.cluster.api_allowed_cidrs,
            deployer_role_arn=aws_cfg.deployer_role_arn,
            admin_principal_arns=aws_cfg.admin_role_arns,
            deletion_protection=cfg.deletion_protection,
            system_instance_type=aws_cfg.system_instance_type,
            system_labels=SYSTEM_LABELS,
            ami=ami,
            partition=partition,
            account_id=account_id,
            region=region,
            logs_key_arn=audit.key_arn,
            log_retention_days=retention,
            # Without NAT, nodes can only join (ECR + its S3 layers, STS, EC2) once the endpoints exist.
            nodes_depend_on=endpoints.all if no_egress else (),
        ),
        on_aws,
    )
    # The runners reach the private endpoint (and preview may diff objects) only after this exists.
    runner_access = (
        [
            admit_runners(
                network,
                cluster.name,
                cluster.cluster.vpc_config.cluster_security_group_id,
                partition,
                aws_cfg.deployer_role_arn,
                aws_cfg.admin_role_arns,
                on_aws,
            )
        ]
        if in_network_ci
        else []
    )
    kubeconfig = exec_kubeconfig(
        cluster.name,
        cluster.endpoint,
        cluster.ca_data,
        "aws",
        ["eks", "get-token", "--cluster-name", cluster.name, "--region", region, "--output", "json"],
        "Install the AWS CLI v2: https://docs.aws.amazon.com/cli/",
    )
    # Every Kubernetes object waits until the deployer's access entry grants cluster-admin (and, on
    # the in-network runners, until they reach the private endpoint and preview has its entry).
    k8s_provider = cluster_provider(
        "eks", kubeconfig, pulumi.ResourceOptions(depends_on=[*cluster.admin_access, *runner_access])
    )

    # The stack's ECR: pull-through caches of Docker Hub, GHCR and registry.k8s.io (infra/aws/registry.py).
    for warning in registry_warnings(cfg):
        pulumi.log.warn(warning)
    images = stack_images(cfg)
    registry = Registry(
        "registry",
        RegistryArgs(
            account=account,
            stack=stack,
            caches=caches(aws_cfg),
            key_admin_arns=key_admins,
            node_role=cluster.node_role.name,
            images=images,
            resource_tags=tags(stack),
            manage_scanning=aws_cfg.manage_registry_scanning,
        ),
        on_aws,
    )
    direct = {ref: _direct_reason(ref) for ref in images if ref not in registry.images}

    def image(ref: str) -> pulumi.Input[str]:
        return registry.images.get(ref, ref)

    gpu = GpuPool(
        "gpu",
        GpuPoolArgs(
            cluster_name=cluster.name,
            kubernetes_version=cluster.cluster.version,
            node_role_arn=cluster.node_role.arn,
            # only the zones that offer the GPU type: a group with a subnet where it is not offered
            # fails to launch there (or, with all subnets unoffered, never scales from zero)
            subnet_ids=[network.private_subnet_ids[i] for i in gpu_zones],
            instance_types=cfg.gpu.spot_types,
            gpus_per_node=cfg.gpu_instance.gpus,
            spot=bool(cfg.gpu.spot),
            min_nodes=cfg.gpu.min_nodes,
            max_nodes=cfg.gpu.max_nodes,
            disk_gib=aws_cfg.gpu_disk_gib or gpu_node_disk_gb(cfg.model.weights_gb),
            ami=ami,
            labels=GPU_LABELS,
            gpu_model=cfg.gpu_instance.gpu_model,
            device_plugin_image=image(aws_cfg.device_plugin_image),
            depends_on=cluster.node_prerequisites,
            group_nodes=cfg.model.pipeline_parallel_size,
            server_image=cfg.serving.image,
        ),
        pulumi.ResourceOptions(providers=[provider, k8s_provider]),
    )
    reader_args = WeightsReaderArgs(
        mode=aws_cfg.identity,
        cluster_name=cluster.name,
        cluster_arn=cluster.cluster.arn,
        oidc_issuer=cluster.oidc_issuer,
        namespace=cfg.serving.namespace,
        service_account=cfg.serving.service_account,
        bucket_arn=bucket.bucket_arn,
        weights_prefix=cfg.model.weights_prefix,
        key_arn=bucket.key_arn,
        region=region,
        pod_identity_agent=cluster.pod_identity_agent,
    )
    identity = WeightsReader("serving-identity", reader_args, on_aws)

    # First deploy with model.source: the staging Job's own role, which may write only the model prefix.
    stager_account = stager_service_account(cfg.serving.service_account)
    writer = None
    if cfg.model.source is not None:
        writer_args = replace(reader_args, service_account=stager_account)
        writer = WeightsWriter("weights-stager", writer_args, identity.oidc_provider, on_aws)

    # The weights key's explicit policy, once its users exist: the deployer and admins administer it,
    # the serving role decrypts, the staging Job's role and aws.weightsWriterArns also generate data
    # keys (SSE-KMS writes; Decrypt for multipart uploads), each only through S3.
    via_s3 = {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}}
    writer_arns = [*([writer.role_arn] if writer else []), *sorted(aws_cfg.weights_writer_arns)]

    def weights_key_policy(v: list) -> str:
        reader_arn, writers = v[0], v[1:]
        uses = [key_use("ReadWeights", {"AWS": reader_arn}, ["kms:Decrypt"], via_s3)]
        if writers:
            uses.append(key_use("WriteWeights", {"AWS": writers}, ["kms:Decrypt", "kms:GenerateDataKey"], via_s3))
        return key_policy(key_admins, uses)

    aws.kms.KeyPolicy(
        "weights-key-policy",
        key_id=bucket.key_id,
        policy=pulumi.Output.all(identity.role_arn, *writer_arns).apply(weights_key_policy),
        opts=pulumi.ResourceOptions.merge(on_aws, pulumi.ResourceOptions(parent=bucket)),
    )

    autoscaler = None
    if aws_cfg.cluster_autoscaler:
        autoscaler = ClusterAutoscaler(
            "cluster-autoscaler",
            ClusterAutoscalerArgs(
                cluster_name=cluster_name,
                cluster=cluster.name,
                cluster_arn=cluster.cluster.arn,
                region=region,
                image=image(
                    aws_cfg.cluster_autoscaler_image or versions.autoscaler_image(cfg.cluster.kubernetes_version)
                ),
                node_selector=SYSTEM_LABELS,
                pod_identity_agent=cluster.pod_identity_agent,
                system_nodes=cluster.system_nodes,
            ),
            pulumi.ResourceOptions(providers=[provider, k8s_provider]),
        )

    # Metrics, alerts and KEDA's query identity (Amazon Managed Prometheus), container logs (CloudWatch).
    monitoring = Monitoring(
        "monitoring",
        MonitoringArgs(
            account=account,
            stack=stack,
            cluster_name=cluster.name,
            cluster_arn=cluster.cluster.arn,
            cluster_security_group_id=cluster.cluster.vpc_config.cluster_security_group_id,
            oidc_issuer=cluster.oidc_issuer,
            oidc_provider_arn=identity.oidc_provider.arn if identity.oidc_provider else None,
            identity=aws_cfg.identity,
            pod_identity_agent=cluster.pod_identity_agent,
            collector_subnet_ids=network.collector_subnet_ids,
            collector_cidrs=collector_subnets(cfg.network.cidr, len(zones)),
            key_admin_arns=key_admins,
            logs_key_arn=audit.key_arn,
            log_retention_days=retention,
            namespace=cfg.serving.namespace,
            selector=SERVING_SELECTOR,
            port_name="http",
            rules_yaml=yaml.safe_dump(alerts.rule_groups(cfg, stack), sort_keys=False),
            emails=cfg.observability.alerts.emails,
            keda_namespace=KEDA_NAMESPACE,
            keda_service_account=KEDA_OPERATOR_SA,
            gpu_node_selector=GPU_LABELS,
            gpu_tolerations=[GPU_TOLERATION],
            dcgm_image=image(aws_cfg.dcgm_exporter_image),
            system_nodes=cluster.system_nodes,
        ),
        pulumi.ResourceOptions(providers=[provider, k8s_provider]),
    )
    # KEDA (the queue scaler): its operator signs its AMP queries as the Monitoring role above.
    keda_release = keda.install(
        "keda",
        k8s_provider,
        image=image,
        operator_annotations=monitoring.keda_annotations,
        opts=pulumi.ResourceOptions(depends_on=[cluster.system_nodes, monitoring.keda_binding]),
    )
    ContainerLogs(
        "container-logs",
        ContainerLogsArgs(
            cluster_name=cluster_name,
            cluster=cluster.name,
            cluster_arn=cluster.cluster.arn,
            partition=partition,
            identity=aws_cfg.identity,
            oidc_issuer=cluster.oidc_issuer,
            oidc_provider_arn=identity.oidc_provider.arn if identity.oidc_provider else None,
            pod_identity_agent=cluster.pod_identity_agent,
            logs_key_arn=audit.key_arn,
            retention_days=retention,
            system_nodes=cluster.system_nodes,
        ),
        on_aws,
    )

    credentials = (
        [POD_IDENTITY_AGENT]
        if not irsa
        else [
            EgressRule(f"{ip}/32", (443,), "STS interface endpoint: AssumeRoleWithWebIdentity (IRSA)")
            for _, ip in sts_endpoint_addresses(cfg.network.cidr, len(zones))
        ]
    )
    platform = Platform(
        k8s=k8s_provider,
        kubeconfig=kubeconfig,
        gpu=GpuScheduling(
            node_selector=GPU_LABELS,
            tolerations=[GPU_TOLERATION],
            gpus_per_replica=cfg.model.tensor_parallel_size,
            gpu_memory_gb=cfg.gpu_instance.gpu_memory_gb,
        ),
        identity=WorkloadIdentity(
            cfg.serving.namespace,
            cfg.serving.service_account,
            service_account_annotations=identity.service_account_annotations,
            # IRSA: regional STS, which resolves to the VPC's interface endpoint (the global one would not).
            # AWS_DEFAULT_REGION too: boto3/botocore read only that one (botocore configprovider.py,
            # boto/boto3#3620) and would otherwise send vLLM's and the stager's S3 calls to us-east-1.
            env={
                "AWS_REGION": region,
                "AWS_DEFAULT_REGION": region,
                **({"AWS_STS_REGIONAL_ENDPOINTS": "regional"} if irsa else {}),
            },
        ),
        weights_uri=pulumi.Output.concat("s3://", bucket.bucket_name, "/", cfg.model.weights_prefix),
        internal_lb_annotations=INTERNAL_LB_ANNOTATIONS,
        egress=[*_s3_egress(region, invoke), *credentials],
        # What the serving component runs: the server, the puller and (multi-node) the LWS controller.
        images={
            ref: registry.images[ref]
            for ref in (cfg.serving.image, cfg.serving.puller_image, LWS_IMAGE)
            if ref in registry.images
        },
        # Amazon Managed Prometheus: its agentless collector scrapes the serving pods from its own two
        # subnets (no pod monitor; the rules are a cloud resource), and KEDA queries it for the queue,
        # signing with SigV4 as the operator's identity (KEDA docs, Prometheus scaler, "Amazon Managed
        # Service for Prometheus": podIdentity provider aws, awsRegion, identityOwner operator).
        metrics=ManagedMetrics(
            monitor=None,
            collector_cidrs=monitoring.collector_cidrs,
            scaler=QueueScaler(
                server_address=monitoring.query_endpoint,
                pod_identity={"provider": "aws"},
                metadata={"awsRegion": region, "identityOwner": "operator"},
                ready=[keda_release, monitoring.keda_binding],
            ),
        ),
        # The serving pods wait for: GPU nodes that can exist (group + autoscaler), schedulable
        # GPUs (device plugin) and their AWS identity.
        ready=[
            gpu.node_group,
            *([autoscaler.deployment] if autoscaler else []),
            *([gpu.device_plugin] if gpu.device_plugin else []),
            identity.binding,
        ],
        exports={
            "region": region,
            "clusterName": cluster.name,
            "bucketName": bucket.bucket_name,
            "weightsKeyArn": bucket.key_arn,
            "weightsRoleArn": identity.role_arn,
            "vpcId": network.vpc_id,
            "gpuNodeGroup": gpu.node_group.node_group_name,
            "identityMode": aws_cfg.identity,
            "images": registry.images,
            "imagesPulledDirectly": direct,
            "prometheusQueryEndpoint": monitoring.query_endpoint,
            "prometheusWorkspaceArn": monitoring.workspace.arn,
            "alertsTopicArn": monitoring.topic.arn,
        },
    )
    if writer is None:
        return platform
    return platform.with_stager(stager_account, writer.service_account_annotations, [writer.binding])
