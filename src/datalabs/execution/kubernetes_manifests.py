"""Kubernetes manifests of the ``kubernetes`` backend, built with the official client's model classes.

A session is a Secret (the secret part of its environment), a NetworkPolicy (ingress only from the
platform's pods, no egress), a Pod (non-root, no capabilities, read-only root, its mounts as volumes) and
a ClusterIP Service the proxy reaches. A pipeline step is a Job with the same pod shape. Every builder
returns model objects; :func:`to_dict` gives what goes on the wire (``ApiClient.sanitize_for_serialization``).

Host paths (workspaces, archive volumes, the environment's Python) become volumes through
``KubernetesOptions.volume_claims``, a mapping of host path prefix to PersistentVolumeClaim: the longest
prefix that covers a path wins and the rest of the path is the ``subPath``. A path no claim covers is a
``hostPath`` volume, which assumes every node mounts the same shared file system at the same paths.
"""

from __future__ import annotations

import hashlib
import json
import math
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from kubernetes import client as k8s

from datalabs.execution.contract import LaunchSpec, Mount
from datalabs.execution.sandbox import CONTROL_TARGET

SESSION_LABEL = "datalabs.dev/session"
RUN_LABEL = "datalabs.dev/run"
STEP_LABEL = "datalabs.dev/step"
USER_ANNOTATION = "datalabs.dev/user"
MANAGED = {"app.kubernetes.io/managed-by": "datalabs"}
CONTAINER = "datalab"
CWL_OUTDIR = "/var/spool/cwl"  # where cwltool's container runs put a step's working and output folder
CWL_INPUTS = "/var/lib/cwl/inputs"
LOOPBACK_ARGS = {"--ip=127.0.0.1": "--ip=0.0.0.0"}  # JupyterLab: a Service reaches the pod's IP, not loopback

_API = k8s.ApiClient()  # serialisation only: never talks to a cluster
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def _mapping(value: Any, name: str) -> dict:
    if value is None:
        return {}
    if isinstance(value, str):  # a JSON object in an environment variable
        value = json.loads(value) if value.strip() else {}
    if not isinstance(value, Mapping):
        raise ValueError(f"kubernetes_{name} must be a mapping, not {value!r}")
    return {str(key): str(item) for key, item in value.items()}


@dataclass(frozen=True)
class KubernetesOptions:
    """The backend's configuration; ``from_settings`` reads the ``kubernetes_*`` settings."""

    namespace: str = "datalabs"
    image: str = "python:3.11-slim"
    volume_claims: Mapping[str, str] = field(default_factory=dict)  # host path prefix -> PVC name
    platform_labels: Mapping[str, str] = field(default_factory=lambda: {"app.kubernetes.io/name": "datalabs"})
    platform_namespace: str | None = None  # None: the platform runs in ``namespace``
    platform_url: str | None = None  # set: sessions may reach the platform's API there (and cluster DNS)
    service_account: str | None = None
    image_pull_policy: str = "IfNotPresent"
    image_pull_secrets: tuple[str, ...] = ()
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, Any], ...] = ()
    uid: int = 1000
    gid: int = 1000
    cluster_domain: str = "cluster.local"
    tmp_size: str = "2Gi"
    step_ttl_seconds: int = 3600
    request_timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings: Any) -> KubernetesOptions:
        if settings is None:
            return cls()
        default = cls()
        values = {}
        for name in cls.__dataclass_fields__:
            value = getattr(settings, f"kubernetes_{name}", None)
            values[name] = getattr(default, name) if value is None else value
        for name in ("volume_claims", "platform_labels", "node_selector"):
            values[name] = _mapping(values[name], name)
        tolerations = values["tolerations"]
        if isinstance(tolerations, str):
            tolerations = json.loads(tolerations) if tolerations.strip() else []
        values["tolerations"] = tuple(dict(item) for item in tolerations)
        values["image_pull_secrets"] = tuple(values["image_pull_secrets"])
        return cls(**values)


# -- names, labels, quantities ---------------------------------------------------------------------


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def dns_name(*parts: str, max_length: int = 63) -> str:
    """A DNS-1123 label (also a DNS-1035 label: it starts with a letter when ``parts[0]`` does) made of
    ``parts``; when anything had to change, a digest of the original keeps different inputs apart."""
    raw = "-".join(parts)
    name = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", raw.lower())).strip("-")
    if name == raw and len(name) <= max_length:
        return name
    return f"{name[:max_length - 9].rstrip('-')}-{_digest(raw)}"


def label_value(value: str) -> str:
    if len(value) <= 63 and _LABEL_VALUE.match(value):
        return value
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", value)[:54].strip("-_.")
    return f"{cleaned}-{_digest(value)}" if cleaned else _digest(value)


def session_names(session_id: str) -> dict[str, str]:
    base = dns_name("datalab", session_id, max_length=59)
    return {"pod": base, "service": base, "policy": base, "secret": f"{base}-env"}


def cpu_quantity(cores: float) -> str:
    """0.5 -> ``500m``, 2 -> ``2``: whole millicores, rounded up."""
    if not cores or cores <= 0:
        raise ValueError(f"a CPU amount must be positive, not {cores!r}")
    millis = max(1, math.ceil(round(cores * 1000, 6)))
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def memory_quantity(size: int) -> str:
    if not size or size <= 0:
        raise ValueError(f"a memory amount must be positive, not {size!r}")
    return str(int(size))


def to_dict(model: Any) -> dict:
    """The manifest as the API receives it (camelCase keys, no empty fields)."""
    return _API.sanitize_for_serialization(model)


# -- pod parts shared by sessions and steps ----------------------------------------------------------


def volume_for(path: str, claims: Mapping[str, str]) -> tuple[str | None, str]:
    """(claim, subPath) of the longest claim prefix covering ``path``; (None, path) when none does."""
    path = posixpath.normpath(path)
    for prefix, claim in sorted(claims.items(), key=lambda item: -len(item[0].rstrip("/"))):
        root = posixpath.normpath(prefix)
        if root == "/" or path == root or path.startswith(root + "/"):
            rest = posixpath.relpath(path, root)
            return claim, "" if rest == "." else rest
    return None, path


def _volumes(mounts: Sequence[Mount], options: KubernetesOptions) -> tuple[list, list]:
    """Volumes (one per claim, one per hostPath) and the container's volume mounts, parents first."""
    volumes: dict[str, k8s.V1Volume] = {}
    mounted = []
    for mount in sorted(mounts, key=lambda m: (m.target.rstrip("/").count("/"), m.target)):
        claim, sub_path = volume_for(mount.source, options.volume_claims)
        if claim is not None:
            name = dns_name("claim", claim)
            source = k8s.V1PersistentVolumeClaimVolumeSource(claim_name=claim)
            volumes.setdefault(name, k8s.V1Volume(name=name, persistent_volume_claim=source))
        else:
            name = dns_name("host", sub_path)
            volumes.setdefault(name, k8s.V1Volume(name=name, host_path=k8s.V1HostPathVolumeSource(
                path=sub_path, type="Directory")))  # never created on a node: it must be there
            sub_path = ""
        # an overlay mount (writable, changes thrown away) has no Kubernetes equivalent: read-only here
        mounted.append(k8s.V1VolumeMount(name=name, mount_path=mount.target, sub_path=sub_path or None,
                                         read_only=not mount.writable or mount.overlay))
    return list(volumes.values()), mounted


def _scratch(name: str, target: str, size: str | None) -> tuple[k8s.V1Volume, k8s.V1VolumeMount]:
    return (k8s.V1Volume(name=name, empty_dir=k8s.V1EmptyDirVolumeSource(size_limit=size)),
            k8s.V1VolumeMount(name=name, mount_path=target))


def container_security(options: KubernetesOptions) -> k8s.V1SecurityContext:
    return k8s.V1SecurityContext(
        run_as_user=options.uid, run_as_group=options.gid, run_as_non_root=True,
        allow_privilege_escalation=False, privileged=False, read_only_root_filesystem=True,
        capabilities=k8s.V1Capabilities(drop=["ALL"]),
        seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
    )


def _pod_spec(container: k8s.V1Container, volumes: list, options: KubernetesOptions) -> k8s.V1PodSpec:
    tolerations = [k8s.V1Toleration(key=t.get("key"), operator=t.get("operator"), value=t.get("value"),
                                    effect=t.get("effect"), toleration_seconds=t.get("tolerationSeconds"))
                   for t in options.tolerations]
    return k8s.V1PodSpec(
        containers=[container], volumes=volumes, restart_policy="Never",
        automount_service_account_token=False, enable_service_links=False,
        service_account_name=options.service_account,
        security_context=k8s.V1PodSecurityContext(
            run_as_user=options.uid, run_as_group=options.gid, run_as_non_root=True,
            seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault")),
        node_selector=dict(options.node_selector) or None, tolerations=tolerations or None,
        image_pull_secrets=[k8s.V1LocalObjectReference(name=name) for name in options.image_pull_secrets] or None,
    )


def _meta(name: str, labels: dict, annotations: dict | None = None, namespace: str | None = None) -> k8s.V1ObjectMeta:
    return k8s.V1ObjectMeta(name=name, namespace=namespace, labels={**MANAGED, **labels}, annotations=annotations)


# -- sessions ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionManifests:
    names: dict[str, str]
    labels: dict[str, str]
    secret: k8s.V1Secret | None
    policy: k8s.V1NetworkPolicy
    pod: k8s.V1Pod
    service: k8s.V1Service

    def host(self, options: KubernetesOptions) -> str:
        return f"{self.names['service']}.{options.namespace}.svc.{options.cluster_domain}"


def _platform_peer(options: KubernetesOptions) -> k8s.V1NetworkPolicyPeer:
    namespace = None
    if options.platform_namespace:
        namespace = k8s.V1LabelSelector(match_labels={"kubernetes.io/metadata.name": options.platform_namespace})
    return k8s.V1NetworkPolicyPeer(pod_selector=k8s.V1LabelSelector(match_labels=dict(options.platform_labels)),
                                   namespace_selector=namespace)


def _egress(options: KubernetesOptions) -> list[k8s.V1NetworkPolicyEgressRule]:
    """None by default; with ``platform_url``, the platform's port and the cluster's DNS, nothing else."""
    if not options.platform_url:
        return []
    url = urlsplit(options.platform_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    dns = k8s.V1NetworkPolicyPeer(
        namespace_selector=k8s.V1LabelSelector(match_labels={"kubernetes.io/metadata.name": "kube-system"}),
        pod_selector=k8s.V1LabelSelector(match_labels={"k8s-app": "kube-dns"}))
    return [k8s.V1NetworkPolicyEgressRule(to=[_platform_peer(options)],
                                          ports=[k8s.V1NetworkPolicyPort(port=port, protocol="TCP")]),
            k8s.V1NetworkPolicyEgressRule(to=[dns], ports=[k8s.V1NetworkPolicyPort(port=53, protocol=protocol)
                                                            for protocol in ("UDP", "TCP")])]


def session_manifests(spec: LaunchSpec, options: KubernetesOptions) -> SessionManifests:
    names = session_names(spec.session_id)
    labels = {SESSION_LABEL: label_value(spec.session_id), "app.kubernetes.io/component": "session"}
    if all(labels.get(key) == value for key, value in options.platform_labels.items()):
        raise ValueError("the platform's labels must not match a session's: sessions would admit each other")
    env = dict(spec.env)
    if options.platform_url:  # no platform socket in a pod: the API is reached over the network
        env["DATALABS_URL"] = options.platform_url
        env.pop("DATALABS_API_SOCKET", None)
    secrets = {key: env[key] for key in sorted(spec.secret_env) if key in env}
    env_vars = []
    for key in sorted(env):
        if key in secrets:
            env_vars.append(k8s.V1EnvVar(name=key, value_from=k8s.V1EnvVarSource(
                secret_key_ref=k8s.V1SecretKeySelector(name=names["secret"], key=key))))
        else:
            env_vars.append(k8s.V1EnvVar(name=key, value=env[key]))
    mounts = [*spec.mounts, *(Mount(prefix, prefix) for prefix in spec.python_prefixes)]
    volumes, volume_mounts = _volumes(mounts, options)
    for name, target, size in (("tmp", "/tmp", options.tmp_size), ("control", CONTROL_TARGET, "16Mi")):
        volume, volume_mount = _scratch(name, target, size)
        volumes.append(volume)
        volume_mounts.append(volume_mount)
    resources = {"cpu": cpu_quantity(spec.cpu), "memory": memory_quantity(spec.memory)}
    container = k8s.V1Container(
        name=CONTAINER, image=options.image, image_pull_policy=options.image_pull_policy,
        command=[LOOPBACK_ARGS.get(part, part) for part in spec.command], working_dir=spec.workdir,
        env=env_vars, ports=[k8s.V1ContainerPort(name="http", container_port=spec.port, protocol="TCP")],
        resources=k8s.V1ResourceRequirements(requests=resources, limits=dict(resources)),
        volume_mounts=volume_mounts, security_context=container_security(options),
    )
    annotations = {USER_ANNOTATION: spec.user}
    pod_spec = _pod_spec(container, volumes, options)
    pod_spec.hostname = "datalab"
    pod = k8s.V1Pod(api_version="v1", kind="Pod", metadata=_meta(names["pod"], labels, annotations), spec=pod_spec)
    selector = {SESSION_LABEL: labels[SESSION_LABEL]}
    service = k8s.V1Service(api_version="v1", kind="Service", metadata=_meta(names["service"], labels, annotations),
                            spec=k8s.V1ServiceSpec(type="ClusterIP", selector=selector, ports=[k8s.V1ServicePort(
                                name="http", port=spec.port, target_port=spec.port, protocol="TCP")]))
    policy = k8s.V1NetworkPolicy(
        api_version="networking.k8s.io/v1", kind="NetworkPolicy", metadata=_meta(names["policy"], labels),
        spec=k8s.V1NetworkPolicySpec(
            pod_selector=k8s.V1LabelSelector(match_labels=selector), policy_types=["Ingress", "Egress"],
            ingress=[k8s.V1NetworkPolicyIngressRule(_from=[_platform_peer(options)], ports=[
                k8s.V1NetworkPolicyPort(port=spec.port, protocol="TCP")])],
            egress=_egress(options)))
    secret = None
    if secrets:
        secret = k8s.V1Secret(api_version="v1", kind="Secret", metadata=_meta(names["secret"], labels),
                              type="Opaque", string_data=secrets)
    return SessionManifests(names, labels, secret, policy, pod, service)


# -- pipeline steps ------------------------------------------------------------------------------------


def _cwl_range(requirement: Mapping[str, Any], resource: str, default: float) -> tuple[float, float]:
    """(min, max) of a CWL ResourceRequirement resource: a missing bound equals the other one."""
    low, high = requirement.get(f"{resource}Min"), requirement.get(f"{resource}Max")
    for value in (low, high):
        if value is not None and (isinstance(value, (bool, str)) or not isinstance(value, (int, float)) or value < 0):
            raise ValueError(f"{resource}: evaluate CWL expressions before building a job ({value!r})")
    low = high if low is None else low
    high = low if high is None else high
    if low is None:
        low = high = default
    if high < low:
        raise ValueError(f"{resource}Max ({high}) is less than {resource}Min ({low})")
    return low, high


def step_job(run_id: str, step: str, command: Sequence[str], *, options: KubernetesOptions, input_dir: str,
             output_dir: str, env: Mapping[str, str] | None = None, resources: Mapping[str, Any] | None = None,
             time_limit: float | None = None, image: str | None = None,
             python_prefixes: Sequence[str] = ()) -> k8s.V1Job:
    """A Job running one CWL CommandLineTool step: its input folder read-only at ``/var/lib/cwl/inputs``,
    its output folder read-write at ``/var/spool/cwl`` (the working directory, as cwltool does), CPU and
    memory from the step's ResourceRequirement (cores; ram and tmpdir in MiB), no retries."""
    requirement = resources or {}
    cores = _cwl_range(requirement, "cores", 1)
    ram = _cwl_range(requirement, "ram", 256)
    tmpdir = _cwl_range(requirement, "tmpdir", 1024)
    labels = {RUN_LABEL: label_value(run_id), STEP_LABEL: label_value(step), "app.kubernetes.io/component": "step"}
    mounts = [Mount(input_dir, CWL_INPUTS), Mount(output_dir, CWL_OUTDIR, writable=True),
              *(Mount(prefix, prefix) for prefix in python_prefixes)]
    volumes, volume_mounts = _volumes(mounts, options)
    volume, volume_mount = _scratch("tmp", "/tmp", f"{math.ceil(tmpdir[1])}Mi")
    volumes.append(volume)
    volume_mounts.append(volume_mount)
    step_env = {"HOME": CWL_OUTDIR, "TMPDIR": "/tmp", **(env or {})}
    container = k8s.V1Container(
        name="step", image=image or options.image, image_pull_policy=options.image_pull_policy,
        command=list(command), working_dir=CWL_OUTDIR,
        env=[k8s.V1EnvVar(name=key, value=value) for key, value in sorted(step_env.items())],
        resources=k8s.V1ResourceRequirements(
            requests={"cpu": cpu_quantity(cores[0]), "memory": f"{math.ceil(ram[0])}Mi"},
            limits={"cpu": cpu_quantity(cores[1]), "memory": f"{math.ceil(ram[1])}Mi"}),
        volume_mounts=volume_mounts, security_context=container_security(options),
    )
    deadline = None if time_limit is None else max(1, math.ceil(time_limit))
    return k8s.V1Job(
        api_version="batch/v1", kind="Job", metadata=_meta(dns_name("step", run_id, step), labels),
        spec=k8s.V1JobSpec(
            backoff_limit=0, active_deadline_seconds=deadline, ttl_seconds_after_finished=options.step_ttl_seconds,
            template=k8s.V1PodTemplateSpec(metadata=k8s.V1ObjectMeta(labels={**MANAGED, **labels}),
                                           spec=_pod_spec(container, volumes, options))))


def steps_network_policy(options: KubernetesOptions) -> k8s.V1NetworkPolicy:
    """One policy per namespace: pods of pipeline steps have no network at all, in or out."""
    return k8s.V1NetworkPolicy(
        api_version="networking.k8s.io/v1", kind="NetworkPolicy",
        metadata=_meta("datalabs-steps", {"app.kubernetes.io/component": "step"}),
        spec=k8s.V1NetworkPolicySpec(
            pod_selector=k8s.V1LabelSelector(match_expressions=[
                k8s.V1LabelSelectorRequirement(key=RUN_LABEL, operator="Exists")]),
            policy_types=["Ingress", "Egress"], ingress=[], egress=[]))


def run_selector(run_id: str) -> str:
    return f"{RUN_LABEL}={label_value(run_id)}"
