"""The ``kubernetes`` backend without a cluster: every manifest is checked against the Kubernetes OpenAPI
schemas (kubernetes-validate, strict: unknown fields fail) of an older and the newest supported version,
plus the rules the schemas leave out (names, label values, quantities); the API calls run against a fake
CoreV1Api/NetworkingV1Api/BatchV1Api that records them and answers with the client's own model objects."""

from __future__ import annotations

import copy
import json
import re

import kubernetes_validate
import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from kubernetes.utils import parse_quantity

from datalabs.execution.contract import BackendError, BackendInfo, LaunchSpec, Mount, Phase
from datalabs.execution.kubernetes import KubernetesApis, KubernetesBackend, observe
from datalabs.execution.kubernetes_manifests import (
    KubernetesOptions,
    cpu_quantity,
    dns_name,
    label_value,
    session_manifests,
    step_job,
    steps_network_policy,
    to_dict,
    volume_for,
)

SCHEMA_VERSIONS = ("1.30.0", "1.37.0")
TOKEN = "tok-7f3a-very-secret"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
OPTIONS = KubernetesOptions(namespace="science", volume_claims={"/srv/datalabs": "datalabs-data"})


def spec_for(session_id: str = "s_0000000000000001", **changes) -> LaunchSpec:
    values = dict(
        session_id=session_id, user="alice", command=("jupyter", "lab", "--ip=127.0.0.1", "--port=8888"),
        env={"HOME": "/media/home", "PATH": "/usr/bin:/bin", "DATALABS_TOKEN": TOKEN,
             "DATALABS_API_SOCKET": "/run/datalab/platform.sock"},
        cpu=0.5, memory=256 * 1024**2,
        mounts=(Mount("/srv/datalabs/workspaces/alice", "/media/my_workspace", writable=True),
                Mount("/archive/mex", "/media/data/mex"),
                Mount("/srv/datalabs/environments/e1", "/srv/datalabs/environments/e1")),
        workdir="/media/home", run_dir="/tmp/unused", port=8888, python_prefixes=("/opt/python/3.11",),
        secret_env=frozenset({"DATALABS_TOKEN"}))
    values.update(changes)
    return LaunchSpec(**values)


# -- schema validation -------------------------------------------------------------------------------


def _quantities(manifest: dict):
    """Every resource quantity in a manifest: the schema only says 'string or integer'."""
    if isinstance(manifest, dict):
        for key, value in manifest.items():
            if key in ("requests", "limits") and isinstance(value, dict):
                yield from value.values()
            elif key == "sizeLimit":
                yield value
            else:
                yield from _quantities(value)
    elif isinstance(manifest, list):
        for item in manifest:
            yield from _quantities(item)


def check_manifest(manifest: dict) -> None:
    """Strict schema validation for each version, then names, labels and quantities."""
    for version in SCHEMA_VERSIONS:
        kubernetes_validate.validate(manifest, version, strict=True)
    assert DNS_LABEL.match(manifest["metadata"]["name"]) and len(manifest["metadata"]["name"]) <= 63
    for key, value in manifest["metadata"].get("labels", {}).items():
        assert LABEL_VALUE.match(value) and len(value) <= 63, (key, value)
    for quantity in _quantities(manifest):
        parse_quantity(quantity)  # raises ValueError on anything Kubernetes would refuse


def all_manifests(spec: LaunchSpec, options: KubernetesOptions) -> dict[str, dict]:
    built = session_manifests(spec, options)
    job = step_job("r_0000000000000042", "calibrate", ["python", "-m", "calib", "in.fits"], options=options,
                   input_dir="/srv/datalabs/pipelines/runs/r42/in", output_dir="/srv/datalabs/pipelines/runs/r42/out",
                   env={"LANG": "C.UTF-8"}, resources={"coresMin": 2, "ramMin": 4096, "ramMax": 8192}, time_limit=3600)
    return {"secret": to_dict(built.secret), "policy": to_dict(built.policy), "pod": to_dict(built.pod),
            "service": to_dict(built.service), "job": to_dict(job),
            "steps-policy": to_dict(steps_network_policy(options))}


@pytest.mark.parametrize("options", [
    OPTIONS,
    KubernetesOptions(platform_url="http://datalabs.platform.svc:8000", platform_namespace="platform",
                      service_account="datalab-sessions", image_pull_secrets=("registry",),
                      node_selector={"datalabs.dev/pool": "sessions"},
                      tolerations=({"key": "sessions", "operator": "Exists", "effect": "NoSchedule"},)),
], ids=["claims", "everything-set"])
def test_every_manifest_validates_against_the_kubernetes_schema(options):
    manifests = all_manifests(spec_for(), options)
    for manifest in manifests.values():
        check_manifest(manifest)
    assert {m["kind"] for m in manifests.values()} == {"Secret", "NetworkPolicy", "Pod", "Service", "Job"}


@pytest.mark.parametrize("breakage, path", [
    ("unknown field", ("spec", "containers", 0, "securityContext", "runAsRoot")),
    ("wrong type", ("spec", "containers", 0, "ports", 0, "containerPort")),
    ("missing field", ("spec", "containers", 0, "name")),
    ("bad quantity", ("spec", "containers", 0, "resources", "limits", "memory")),
    ("bad name", ("metadata", "name")),
])
def test_a_broken_manifest_is_rejected(breakage, path):
    pod = copy.deepcopy(all_manifests(spec_for(), OPTIONS)["pod"])
    *parents, last = path
    target = pod
    for key in parents:
        target = target[key]
    if breakage == "missing field":
        del target[last]
    else:
        target[last] = {"unknown field": True, "wrong type": "eighty", "bad quantity": "lots",
                        "bad name": "Datalab_S1"}[breakage]
    with pytest.raises((kubernetes_validate.ValidationError, AssertionError, ValueError)) as raised:
        check_manifest(pod)
    if breakage in ("unknown field", "wrong type", "missing field"):  # the schema itself refuses these
        assert isinstance(raised.value, kubernetes_validate.ValidationError)


def test_the_schema_alone_does_not_check_quantities_so_the_test_does():
    pod = copy.deepcopy(all_manifests(spec_for(), OPTIONS)["pod"])
    pod["spec"]["containers"][0]["resources"]["limits"]["memory"] = "lots"
    kubernetes_validate.validate(pod, SCHEMA_VERSIONS[-1], strict=True)  # passes: why check_manifest does more
    with pytest.raises(ValueError):
        check_manifest(pod)


# -- what the session manifests say ------------------------------------------------------------------


def test_the_session_pod_is_locked_down():
    pod = all_manifests(spec_for(), OPTIONS)["pod"]
    spec = pod["spec"]
    container = spec["containers"][0]
    assert spec["restartPolicy"] == "Never" and spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["runAsUser"] == 1000 and security["runAsGroup"] == 1000 and security["runAsNonRoot"] is True
    assert security["allowPrivilegeEscalation"] is False and security["capabilities"] == {"drop": ["ALL"]}
    assert security["readOnlyRootFilesystem"] is True
    tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
    assert "emptyDir" in next(v for v in spec["volumes"] if v["name"] == tmp["name"])
    assert pod["metadata"]["labels"]["datalabs.dev/session"] == "s_0000000000000001"
    assert container["workingDir"] == "/media/home"
    assert container["command"] == ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888"]  # a Service reaches the pod IP


def test_resources_are_requests_and_limits():
    container = all_manifests(spec_for(cpu=0.5, memory=3 * 1024**3), OPTIONS)["pod"]["spec"]["containers"][0]
    assert container["resources"]["requests"] == container["resources"]["limits"] == {
        "cpu": "500m", "memory": str(3 * 1024**3)}
    assert [cpu_quantity(c) for c in (0.5, 2, 1.25, 0.0001)] == ["500m", "2", "1250m", "1m"]
    with pytest.raises(ValueError):
        cpu_quantity(0)


def test_secrets_are_in_a_secret_and_never_in_the_pod():
    manifests = all_manifests(spec_for(), OPTIONS)
    assert TOKEN not in json.dumps(manifests["pod"])
    assert manifests["secret"]["stringData"] == {"DATALABS_TOKEN": TOKEN}
    env = {e["name"]: e for e in manifests["pod"]["spec"]["containers"][0]["env"]}
    assert env["DATALABS_TOKEN"] == {"name": "DATALABS_TOKEN", "valueFrom": {"secretKeyRef": {
        "name": manifests["secret"]["metadata"]["name"], "key": "DATALABS_TOKEN"}}}
    assert env["HOME"]["value"] == "/media/home"


def test_mounts_archive_read_only_workspace_read_write_claims_with_sub_path_else_host_path():
    pod = all_manifests(spec_for(), OPTIONS)["pod"]["spec"]
    mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    workspace, archive = mounts["/media/my_workspace"], mounts["/media/data/mex"]
    assert workspace["readOnly"] is False and archive["readOnly"] is True
    assert volumes[workspace["name"]]["persistentVolumeClaim"] == {"claimName": "datalabs-data"}
    assert workspace["subPath"] == "workspaces/alice"
    assert volumes[archive["name"]]["hostPath"] == {"path": "/archive/mex", "type": "Directory"}
    assert "subPath" not in archive
    environment = mounts["/srv/datalabs/environments/e1"]  # the datalab's Python environment, in the data folder
    assert environment["readOnly"] is True and environment["subPath"] == "environments/e1"
    assert environment["name"] == workspace["name"]  # one volume per claim
    python = mounts["/opt/python/3.11"]
    assert python["readOnly"] is True and volumes[python["name"]]["hostPath"]["path"] == "/opt/python/3.11"


def test_the_longest_claim_prefix_wins_and_prefixes_match_whole_folders():
    claims = {"/srv": "all", "/srv/datalabs/archive": "archive", "/srv/data": "data"}
    assert volume_for("/srv/datalabs/archive/mex/x", claims) == ("archive", "mex/x")
    assert volume_for("/srv/datalabs/archive", claims) == ("archive", "")
    assert volume_for("/srv/database", claims) == ("all", "database")  # not under /srv/data
    assert volume_for("/home/alice", claims) == (None, "/home/alice")


def test_the_network_policy_admits_only_the_platform_and_denies_egress():
    policy = all_manifests(spec_for(), OPTIONS)["policy"]["spec"]
    assert policy["podSelector"] == {"matchLabels": {"datalabs.dev/session": "s_0000000000000001"}}
    assert policy["policyTypes"] == ["Ingress", "Egress"] and policy["egress"] == []
    assert policy["ingress"] == [{"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "datalabs"}}}],
                                  "ports": [{"port": 8888, "protocol": "TCP"}]}]
    pod_labels = all_manifests(spec_for(), OPTIONS)["pod"]["metadata"]["labels"]
    assert pod_labels.get("app.kubernetes.io/name") != "datalabs"  # a session is never taken for the platform


def test_with_a_platform_url_sessions_reach_only_the_platform_and_dns():
    options = KubernetesOptions(platform_url="http://datalabs.platform.svc:8000", platform_namespace="platform")
    manifests = all_manifests(spec_for(), options)
    egress = manifests["policy"]["spec"]["egress"]
    assert egress[0]["ports"] == [{"port": 8000, "protocol": "TCP"}]
    assert egress[0]["to"][0]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "platform"}}
    assert {p["port"] for p in egress[1]["ports"]} == {53} and len(egress) == 2
    env = {e["name"]: e.get("value") for e in manifests["pod"]["spec"]["containers"][0]["env"]}
    assert env["DATALABS_URL"] == "http://datalabs.platform.svc:8000" and "DATALABS_API_SOCKET" not in env


def test_names_are_valid_and_distinct():
    assert dns_name("datalab", "s_1") != dns_name("datalab", "s-1")
    long = dns_name("step", "r" * 80, "x")
    assert len(long) <= 63 and DNS_LABEL.match(long)
    assert label_value("s_0000000000000001") == "s_0000000000000001"
    assert LABEL_VALUE.match(label_value("a step/with spaces" * 5)) and len(label_value("x" * 100)) <= 63


# -- pipeline step jobs ----------------------------------------------------------------------------


def test_a_step_job_has_its_resources_folders_deadline_and_labels():
    job = all_manifests(spec_for(), OPTIONS)["job"]
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["activeDeadlineSeconds"] == 3600
    assert job["spec"]["ttlSecondsAfterFinished"] == 3600
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert labels["datalabs.dev/run"] == "r_0000000000000042" and labels["datalabs.dev/step"] == "calibrate"
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == ["python", "-m", "calib", "in.fits"]
    assert container["resources"] == {"requests": {"cpu": "2", "memory": "4096Mi"},
                                      "limits": {"cpu": "2", "memory": "8192Mi"}}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/var/lib/cwl/inputs"]["readOnly"] is True and mounts["/var/spool/cwl"]["readOnly"] is False
    assert mounts["/var/lib/cwl/inputs"]["subPath"] == "pipelines/runs/r42/in"
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]} and pod["restartPolicy"] == "Never"
    assert {"name": "LANG", "value": "C.UTF-8"} in container["env"]


def test_step_resources_follow_cwl_defaults_and_refuse_unevaluated_expressions():
    def resources(requirement):
        job = to_dict(step_job("r1", "s", ["true"], options=OPTIONS, input_dir="/a", output_dir="/b",
                               resources=requirement))
        return job["spec"]["template"]["spec"]["containers"][0]["resources"], job["spec"].get("activeDeadlineSeconds")

    assert resources({}) == ({"requests": {"cpu": "1", "memory": "256Mi"},
                              "limits": {"cpu": "1", "memory": "256Mi"}}, None)
    assert resources({"coresMax": 0.25, "ramMax": 100.5})[0]["requests"] == {"cpu": "250m", "memory": "101Mi"}
    with pytest.raises(ValueError, match="expressions"):
        resources({"ramMin": "$(inputs.size * 2)"})
    with pytest.raises(ValueError, match="less than"):
        resources({"coresMin": 4, "coresMax": 2})


# -- the backend against a recording fake API --------------------------------------------------------


class FakeResponse:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.released = False

    def release_conn(self) -> None:
        self.released = True


def api_error(status: int, message: str = "") -> ApiException:
    error = ApiException(status=status, reason={403: "Forbidden", 404: "Not Found", 500: "Internal Server Error",
                                                422: "Unprocessable Entity"}.get(status, "Error"))
    error.body = json.dumps({"kind": "Status", "status": "Failure", "message": message, "code": status})
    return error


def container_status(**state) -> k8s.V1ContainerStatus:
    return k8s.V1ContainerStatus(name="datalab", image="python:3.11-slim", image_id="", ready=False,
                                 restart_count=0, state=k8s.V1ContainerState(**state))


class FakeKubernetes:
    """CoreV1Api, NetworkingV1Api and BatchV1Api in one: records calls, keeps objects, answers with models."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []
        self.objects: dict[tuple[str, str, str], dict] = {}  # (kind, namespace, name) -> body
        self.statuses: dict[str, k8s.V1PodStatus] = {}
        self.failures: dict[str, ApiException] = {}
        self.log = b""

    def _record(self, method: str, *args, **kwargs) -> None:
        self.calls.append((method, args, kwargs))
        if method in self.failures:
            raise self.failures[method]

    def _create(self, kind: str, method: str, namespace: str, body, **kwargs) -> None:
        assert kwargs == {"_request_timeout": 30.0}  # never an API call that may hang for ever
        assert not isinstance(body, dict)  # the client's typed methods take its model objects
        body = to_dict(body)  # kept as it goes on the wire
        self._record(method, namespace, body, **kwargs)
        self.objects[(kind, namespace, body["metadata"]["name"])] = body

    def _delete(self, kind: str, method: str, name: str, namespace: str, **kwargs) -> None:
        assert kwargs.pop("_request_timeout") == 30.0
        self._record(method, name, namespace, **kwargs)
        if self.objects.pop((kind, namespace, name), None) is None:
            raise api_error(404, f'{kind} "{name}" not found')

    def create_namespaced_network_policy(self, namespace, body, **kwargs):
        self._create("networkpolicy", "create_namespaced_network_policy", namespace, body, **kwargs)

    def create_namespaced_secret(self, namespace, body, **kwargs):
        self._create("secret", "create_namespaced_secret", namespace, body, **kwargs)

    def create_namespaced_service(self, namespace, body, **kwargs):
        self._create("service", "create_namespaced_service", namespace, body, **kwargs)

    def create_namespaced_pod(self, namespace, body, **kwargs):
        self._create("pod", "create_namespaced_pod", namespace, body, **kwargs)
        name = body.metadata.name
        self.statuses[name] = k8s.V1PodStatus(phase="Pending")
        return k8s.V1Pod(metadata=k8s.V1ObjectMeta(name=name, namespace=namespace, uid=f"uid-{name}"),
                         status=self.statuses[name])

    def read_namespaced_pod(self, name, namespace, **kwargs):
        self._record("read_namespaced_pod", name, namespace)
        if ("pod", namespace, name) not in self.objects:
            raise api_error(404, f'pods "{name}" not found')
        return k8s.V1Pod(metadata=k8s.V1ObjectMeta(name=name, namespace=namespace), status=self.statuses[name])

    def read_namespaced_pod_log(self, name, namespace, *, container, limit_bytes, _preload_content, **kwargs):
        self._record("read_namespaced_pod_log", name, namespace, container=container, limit_bytes=limit_bytes,
                     _preload_content=_preload_content)
        if ("pod", namespace, name) not in self.objects:
            raise api_error(404, f'pods "{name}" not found')
        assert limit_bytes >= 1
        return FakeResponse(self.log[:limit_bytes])

    def delete_namespaced_pod(self, name, namespace, **kwargs):
        self._delete("pod", "delete_namespaced_pod", name, namespace, **kwargs)

    def delete_namespaced_service(self, name, namespace, **kwargs):
        self._delete("service", "delete_namespaced_service", name, namespace, **kwargs)

    def delete_namespaced_secret(self, name, namespace, **kwargs):
        self._delete("secret", "delete_namespaced_secret", name, namespace, **kwargs)

    def delete_namespaced_network_policy(self, name, namespace, **kwargs):
        self._delete("networkpolicy", "delete_namespaced_network_policy", name, namespace, **kwargs)

    def create_namespaced_job(self, namespace, body, **kwargs):
        self._create("job", "create_namespaced_job", namespace, body, **kwargs)

    def list_namespaced_job(self, namespace, *, label_selector, **kwargs):
        self._record("list_namespaced_job", namespace, label_selector=label_selector)
        key, value = label_selector.split("=")
        return k8s.V1JobList(items=[
            k8s.V1Job(metadata=k8s.V1ObjectMeta(name=name, labels=body["metadata"]["labels"]))
            for (kind, ns, name), body in self.objects.items()
            if kind == "job" and ns == namespace and body["metadata"]["labels"].get(key) == value])

    def delete_namespaced_job(self, name, namespace, **kwargs):
        self._delete("job", "delete_namespaced_job", name, namespace, **kwargs)

    def methods(self) -> list[str]:
        return [call[0] for call in self.calls]


@pytest.fixture
def fake():
    return FakeKubernetes()


@pytest.fixture
def backend(fake):
    return KubernetesBackend(api=fake, options=OPTIONS)


def test_start_creates_policy_secret_pod_and_service_and_returns_json_state(backend, fake):
    state = backend.start(spec_for())
    assert json.loads(json.dumps(state)) == state  # stored opaquely on the session row
    assert fake.methods() == ["create_namespaced_network_policy", "create_namespaced_secret",
                              "create_namespaced_pod", "create_namespaced_service"]  # the policy before the pod
    assert state["namespace"] == "science"
    kinds = {(kind, name) for kind, namespace, name in fake.objects}
    assert kinds == {("networkpolicy", state["policy"]), ("secret", state["secret"]), ("pod", state["pod"]),
                     ("service", state["service"])}
    pod = fake.objects[("pod", "science", state["pod"])]
    assert TOKEN not in json.dumps(pod)
    service = fake.objects[("service", "science", state["service"])]
    assert service["spec"]["selector"] == {"datalabs.dev/session": "s_0000000000000001"}
    assert service["spec"]["ports"][0]["targetPort"] == 8888 and service["spec"]["type"] == "ClusterIP"
    assert service["metadata"]["ownerReferences"][0]["uid"] == f"uid-{state['pod']}"
    for body in fake.objects.values():  # what was sent is what the schema accepts
        check_manifest(body)


def test_poll_maps_the_pod_phase(backend, fake):
    state = backend.start(spec_for())
    fake.statuses[state["pod"]] = k8s.V1PodStatus(phase="Pending", conditions=[k8s.V1PodCondition(
        type="PodScheduled", status="False", reason="Unschedulable",
        message="0/3 nodes are available: 3 Insufficient memory.")])
    queued = backend.poll(state)
    assert queued.phase == Phase.QUEUED
    assert queued.detail == "queued: Unschedulable: 0/3 nodes are available: 3 Insufficient memory."

    fake.statuses[state["pod"]] = k8s.V1PodStatus(phase="Pending", conditions=[k8s.V1PodCondition(
        type="PodScheduled", status="True")], container_statuses=[container_status(
            waiting=k8s.V1ContainerStateWaiting(reason="ImagePullBackOff", message="Back-off pulling image"))])
    assert backend.poll(state).detail == "queued: ImagePullBackOff: Back-off pulling image"

    fake.statuses[state["pod"]] = k8s.V1PodStatus(phase="Running", container_statuses=[container_status(
        running=k8s.V1ContainerStateRunning())])
    started = backend.poll(state)
    assert started.phase == Phase.STARTED
    assert (started.address.host, started.address.port) == (f"{state['service']}.science.svc.cluster.local", 8888)
    assert started.address.unix_socket is None


def test_an_out_of_memory_kill_is_reported(backend, fake):
    state = backend.start(spec_for(memory=512 * 1024**2))
    fake.statuses[state["pod"]] = k8s.V1PodStatus(phase="Failed", container_statuses=[container_status(
        terminated=k8s.V1ContainerStateTerminated(exit_code=137, reason="OOMKilled"))])
    observation = backend.poll(state)
    assert observation.phase == Phase.EXITED and observation.exit_code == 137 and observation.memory_exceeded
    assert "memory limit" in observation.reason and "512" in observation.reason


@pytest.mark.parametrize("status, code, reason", [
    (k8s.V1PodStatus(phase="Failed", reason="Evicted", message="The node was low on resource: ephemeral-storage."),
     None, "the cluster evicted the session: The node was low on resource: ephemeral-storage."),
    (k8s.V1PodStatus(phase="Failed", reason="DeadlineExceeded", message="Pod was active on the node longer than "
                     "the specified deadline", container_statuses=[container_status(
                         terminated=k8s.V1ContainerStateTerminated(exit_code=143, reason="Error"))]),
     143, "the session reached its time limit: Pod was active on the node longer than the specified deadline"),
    (k8s.V1PodStatus(phase="Failed", container_statuses=[container_status(
        terminated=k8s.V1ContainerStateTerminated(exit_code=3, reason="Error"))]), 3, "the datalab exited with code 3"),
    (k8s.V1PodStatus(phase="Succeeded", container_statuses=[container_status(
        terminated=k8s.V1ContainerStateTerminated(exit_code=0, reason="Completed"))]), 0, ""),
])
def test_ends_are_reported_with_code_and_reason(status, code, reason):
    pod = k8s.V1Pod(metadata=k8s.V1ObjectMeta(name="p"), status=status)
    observation = observe(pod, {"host": "h", "port": 8888, "memory": 1})
    assert (observation.phase, observation.exit_code, observation.reason) == (Phase.EXITED, code, reason)
    assert not observation.memory_exceeded


def test_a_pod_that_is_gone_is_reported_gone(backend, fake):
    state = backend.start(spec_for())
    del fake.objects[("pod", "science", state["pod"])]  # deleted behind the platform's back
    assert backend.poll(state).phase == Phase.GONE


def test_stop_deletes_everything_and_tolerates_what_is_already_gone(backend, fake):
    state = backend.start(spec_for())
    backend.stop(state, grace=2.5)
    assert fake.objects == {}
    deletions = [call for call in fake.calls if call[0].startswith("delete_")]
    assert [call[0] for call in deletions] == ["delete_namespaced_pod", "delete_namespaced_service",
                                               "delete_namespaced_secret", "delete_namespaced_network_policy"]
    assert deletions[0][2] == {"grace_period_seconds": 3}
    assert backend.poll(state).phase == Phase.GONE
    backend.stop(state)  # everything answers 404 now: no error


def test_a_pod_still_terminating_keeps_its_network_policy(fake, monkeypatch):
    import datalabs.execution.kubernetes as module

    monkeypatch.setattr(module, "DELETE_WAIT", 0.0)
    backend = KubernetesBackend(api=fake, options=OPTIONS)
    state = backend.start(spec_for())
    original = fake.delete_namespaced_pod
    fake.delete_namespaced_pod = lambda name, namespace, **kw: fake._record("delete_namespaced_pod", name, namespace)
    backend.stop(state, grace=0)
    assert ("networkpolicy", "science", state["policy"]) in fake.objects  # never a running pod without it
    fake.delete_namespaced_pod = original
    backend.stop(state, grace=0)  # the reconciler's next stop finishes the job
    assert fake.objects == {}


def test_a_quota_refusal_needs_user_action_and_cleans_up(backend, fake):
    message = ('pods "datalab-s-1" is forbidden: exceeded quota: compute, requested: limits.memory=64Gi, '
               'used: limits.memory=8Gi, limited: limits.memory=32Gi')
    fake.failures["create_namespaced_pod"] = api_error(403, message)
    with pytest.raises(BackendError) as raised:
        backend.start(spec_for())
    assert raised.value.kind == BackendError.USER_ACTION and message in raised.value.message
    assert fake.objects == {}  # the policy and secret made before the refusal are removed


@pytest.mark.parametrize("status, message, kind", [
    (500, "etcdserver: request timed out", BackendError.RETRIABLE),
    (503, "", BackendError.RETRIABLE),
    (403, 'pods is forbidden: User "system:serviceaccount:science:datalabs" cannot create resource "pods"',
     BackendError.PERMANENT),
    (422, 'Pod "x" is invalid: spec.containers[0].image: Required value', BackendError.PERMANENT),
    (400, "bad request", BackendError.PERMANENT),
    (409, 'networkpolicies "datalab-s-1" already exists', BackendError.RETRIABLE),
    (403, 'pods "x" is forbidden: maximum memory usage per Container is 4Gi, but limit is 8Gi',
     BackendError.USER_ACTION),
])
def test_api_errors_map_to_kinds(backend, fake, status, message, kind):
    fake.failures["create_namespaced_pod"] = api_error(status, message)
    with pytest.raises(BackendError) as raised:
        backend.start(spec_for())
    assert raised.value.kind == kind and message in raised.value.message
    if status != 403:
        assert f"HTTP {status}" in raised.value.message
    elif kind == BackendError.PERMANENT:  # RBAC, not a quota: the admin must fix the service account's Role
        assert "RBAC" in raised.value.message


def test_poll_errors_other_than_404_are_raised_with_their_kind(backend, fake):
    state = backend.start(spec_for())
    fake.failures["read_namespaced_pod"] = api_error(500, "apiserver overloaded")
    with pytest.raises(BackendError) as raised:
        backend.poll(state)
    assert raised.value.kind == BackendError.RETRIABLE


def test_logs_are_read_in_pieces_from_byte_offsets(backend, fake):
    state = backend.start(spec_for())
    fake.log = "first line\nsecond line é\n".encode()
    whole = backend.logs(state, 0)
    assert whole.text == "first line\nsecond line é\n" and whole.offset == len(fake.log)
    head = backend.logs(state, 0, limit=6)
    assert head == type(head)("first ", 6)
    assert fake.calls[-1][2]["limit_bytes"] == 6 and fake.calls[-1][2]["container"] == "datalab"
    tail = backend.logs(state, 6, limit=5)
    assert tail.text == "line\n" and tail.offset == 11
    assert fake.calls[-1][2]["limit_bytes"] == 11
    cut = fake.log.index("é".encode())  # a two-byte character cut by the limit waits for the next read
    partial = backend.logs(state, cut - 1, limit=2)
    assert partial.text == " " and partial.offset == cut
    assert backend.logs(state, whole.offset).text == ""
    backend.stop(state)
    assert backend.logs(state, 3) == type(head)("", 3)  # a deleted pod has no log: empty, same offset


def test_a_new_backend_instance_adopts_the_pod_from_the_stored_state(fake):
    state = KubernetesBackend(api=fake, options=OPTIONS).start(spec_for())
    stored = json.loads(json.dumps(state))
    fake.statuses[state["pod"]] = k8s.V1PodStatus(phase="Running")
    again = KubernetesBackend(api=fake, options=KubernetesOptions(namespace="elsewhere"))  # settings changed since
    observation = again.poll(stored)
    assert observation.phase == Phase.STARTED and observation.address.port == 8888
    assert fake.calls[-1] == ("read_namespaced_pod", (state["pod"], "science"), {})
    again.stop(stored)
    assert fake.objects == {}


def test_step_jobs_are_submitted_listed_and_cancelled_by_run(backend, fake):
    jobs = [step_job(run, step, ["true"], options=OPTIONS, input_dir="/srv/datalabs/in", output_dir="/srv/datalabs/out")
            for run, step in (("r_1", "a"), ("r_1", "b"), ("r_2", "a"))]
    names = [backend.submit_step(job) for job in jobs]
    assert len(set(names)) == 3
    assert backend.step_jobs("r_1") == sorted(names[:2])
    assert fake.calls[-1][2] == {"label_selector": "datalabs.dev/run=r_1"}
    assert backend.cancel_run("r_1") == sorted(names[:2])
    deletes = [call for call in fake.calls if call[0] == "delete_namespaced_job"]
    assert all(call[2] == {"propagation_policy": "Background"} for call in deletes) and len(deletes) == 2
    assert [name for kind, _, name in fake.objects] == [names[2]]


def test_describe():
    info = KubernetesBackend(options=OPTIONS).describe()  # no API needed
    assert isinstance(info, BackendInfo) and info.name == "kubernetes" and info.enforces_limits
    assert "NetworkPolicy" in info.isolation and info.details["namespace"] == "science"


def test_options_come_from_settings_with_defaults():
    class Settings:
        kubernetes_namespace = "labs"
        kubernetes_volume_claims = '{"/srv/datalabs": "data"}'  # as an environment variable gives it
        kubernetes_tolerations = [{"key": "gpu", "operator": "Exists"}]
        kubernetes_image = None

    options = KubernetesOptions.from_settings(Settings())
    assert options.namespace == "labs" and options.volume_claims == {"/srv/datalabs": "data"}
    assert options.image == "python:3.11-slim" and options.tolerations == ({"key": "gpu", "operator": "Exists"},)
    assert KubernetesBackend(Settings(), api=FakeKubernetes()).options.namespace == "labs"
    assert KubernetesBackend(None).options == KubernetesOptions()


def test_without_any_cluster_configuration_the_error_is_permanent_and_clear(monkeypatch, tmp_path):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.setenv("HOME", str(tmp_path))
    backend = KubernetesBackend()  # constructing it needs nothing
    with pytest.raises(BackendError) as raised:
        backend.poll({"pod": "p", "namespace": "n"})
    assert raised.value.kind == BackendError.PERMANENT and "no cluster" in raised.value.message


def test_an_unreachable_api_server_is_retriable(monkeypatch, tmp_path):
    """The real client and transport, configured from a kubeconfig, against a port nobody listens on."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    backend = KubernetesBackend(options=OPTIONS)
    assert isinstance(backend.apis, KubernetesApis)
    backend.apis.core.api_client.configuration.retries = 0
    with pytest.raises(BackendError) as raised:
        backend.poll({"pod": "p", "namespace": "science"})
    assert raised.value.kind == BackendError.RETRIABLE


# -- the real client, over HTTP, against a stub API server -------------------------------------------

API_PATH = re.compile(r"^/(?:api/v1|apis/(?:networking\.k8s\.io|batch)/v1)/namespaces/([^/]+)/([a-z]+)"
                      r"(?:/([^/]+))?(/log)?$")


class StubApiServer:
    """Just enough of the Kubernetes REST API for the backend's calls: it keeps what the real client sends
    (to be checked against the schema, as it went over the wire) and answers as the API server does."""

    def __init__(self) -> None:
        import threading
        import time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.objects: dict[tuple[str, str, str], dict] = {}
        self.requests: list[tuple[str, str, dict]] = []
        self.pod_status: dict = {"phase": "Pending"}
        self.log = b""
        self.refuse_pods: tuple[int, str] | None = None
        self.delay = 0.0  # seconds before answering (an overloaded API server)
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def handle(self) -> None:
                try:
                    super().handle()
                except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (timeout test)
                    pass

            def _send(self, status: int, body, content_type: str = "application/json") -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _status(self, code: int, message: str) -> None:
                self._send(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
                                  "code": code})

            def _handle(self, method: str) -> None:
                from urllib.parse import parse_qs, urlsplit

                time.sleep(stub.delay)
                url = urlsplit(self.path)
                query = {key: values[0] for key, values in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else {}
                stub.requests.append((method, url.path, {**query, **({"body": body} if body else {})}))
                match = API_PATH.match(url.path)
                if not match:
                    return self._status(404, f"no route {url.path}")
                namespace, kind, name, log = match.groups()
                if method == "POST":
                    if kind == "pods" and stub.refuse_pods:
                        return self._status(*stub.refuse_pods)
                    stub.objects[(kind, namespace, body["metadata"]["name"])] = body
                    answer = copy.deepcopy(body)
                    answer["metadata"]["uid"] = f"uid-{body['metadata']['name']}"
                    return self._send(201, answer)
                if method == "GET" and name is None:
                    selected = dict(part.split("=") for part in query.get("labelSelector", "").split(",") if part)
                    items = [obj for (k, ns, _), obj in stub.objects.items() if k == kind and ns == namespace
                             and all(obj["metadata"].get("labels", {}).get(a) == b for a, b in selected.items())]
                    return self._send(200, {"kind": "JobList", "apiVersion": "batch/v1", "metadata": {},
                                            "items": items})
                found = stub.objects.get((kind, namespace, name))
                if found is None:
                    return self._status(404, f'{kind} "{name}" not found')
                if method == "DELETE":
                    del stub.objects[(kind, namespace, name)]
                    return self._send(200, found)
                if log:
                    limit = int(query.get("limitBytes", len(stub.log)))
                    return self._send(200, stub.log[:limit], "text/plain")
                return self._send(200, {**found, "status": stub.pod_status})

            def do_GET(self) -> None:  # noqa: N802
                self._handle("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

            def do_DELETE(self) -> None:  # noqa: N802
                self._handle("DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def apis(self) -> KubernetesApis:
        configuration = k8s.Configuration(host=self.url)
        api_client = k8s.ApiClient(configuration)
        return KubernetesApis(k8s.CoreV1Api(api_client), k8s.NetworkingV1Api(api_client), k8s.BatchV1Api(api_client))


@pytest.fixture
def stub():
    server = StubApiServer()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_the_real_client_sends_valid_manifests_and_reads_answers(stub):
    backend = KubernetesBackend(api=stub.apis(), options=OPTIONS)
    state = backend.start(spec_for())
    posted = [(path, extra["body"]) for method, path, extra in stub.requests if method == "POST"]
    assert [path.rsplit("/", 1)[1] for path, _ in posted] == ["networkpolicies", "secrets", "pods", "services"]
    for _, body in posted:  # what went over the wire
        check_manifest(body)
    pod = stub.objects[("pods", "science", state["pod"])]
    assert TOKEN not in json.dumps(pod) and pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert stub.objects[("secrets", "science", state["secret"])]["stringData"] == {"DATALABS_TOKEN": TOKEN}
    service = stub.objects[("services", "science", state["service"])]
    assert service["metadata"]["ownerReferences"][0]["uid"] == f"uid-{state['pod']}"

    stub.pod_status = {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available"}]}
    assert backend.poll(state).detail == "queued: Unschedulable: 0/3 nodes are available"
    stub.pod_status = {"phase": "Running"}
    assert backend.poll(state).address.port == 8888
    stub.pod_status = {"phase": "Failed", "containerStatuses": [{
        "name": "datalab", "image": "i", "imageID": "", "ready": False, "restartCount": 0,
        "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}
    ended = backend.poll(state)
    assert ended.phase == Phase.EXITED and ended.exit_code == 137 and ended.memory_exceeded

    stub.log = '{"not": "json to the client"}\nline two é\n'.encode()  # text, never parsed as JSON
    chunk = backend.logs(state, 0, limit=1000)
    assert chunk.text == stub.log.decode() and chunk.offset == len(stub.log)
    assert backend.logs(state, 10, limit=5) == type(chunk)(stub.log[10:15].decode(), 15)
    assert stub.requests[-1][2]["limitBytes"] == "15" and stub.requests[-1][2]["container"] == "datalab"

    backend.stop(state, grace=1)
    assert stub.objects == {}
    deleted_pod = next(extra for method, path, extra in stub.requests if method == "DELETE" and "/pods/" in path)
    assert deleted_pod == {"gracePeriodSeconds": "1"}
    assert backend.poll(state).phase == Phase.GONE
    backend.stop(state)  # 404s from the real client are tolerated too


def test_the_real_client_reports_a_quota_refusal(stub):
    message = 'pods "x" is forbidden: exceeded quota: compute, requested: limits.memory=64Gi'
    stub.refuse_pods = (403, message)
    backend = KubernetesBackend(api=stub.apis(), options=OPTIONS)
    with pytest.raises(BackendError) as raised:
        backend.start(spec_for())
    assert raised.value.kind == BackendError.USER_ACTION and message in raised.value.message
    assert stub.objects == {}


def test_the_real_client_submits_lists_and_cancels_step_jobs(stub):
    backend = KubernetesBackend(api=stub.apis(), options=OPTIONS)
    for run, step in (("r_1", "a"), ("r_1", "b"), ("r_2", "a")):
        backend.submit_step(step_job(run, step, ["true"], options=OPTIONS, input_dir="/srv/datalabs/in",
                                     output_dir="/srv/datalabs/out", time_limit=60))
    for method, _, extra in stub.requests:
        if method == "POST":
            check_manifest(extra["body"])
    names = backend.step_jobs("r_1")
    assert len(names) == 2 and all(name.startswith("step-r-1-") for name in names)
    assert backend.cancel_run("r_1") == names
    deletes = [extra for method, path, extra in stub.requests if method == "DELETE"]
    assert deletes == [{"propagationPolicy": "Background"}] * 2  # the Jobs' pods go with them
    assert [name for _, _, name in stub.objects] == [dns_name("step", "r_2", "a")]


def test_an_api_server_that_does_not_answer_in_time_is_retriable(stub):
    from dataclasses import replace

    backend = KubernetesBackend(api=stub.apis(), options=replace(OPTIONS, request_timeout=0.3))
    state = backend.start(spec_for())
    stub.delay = 2.0
    with pytest.raises(BackendError) as raised:
        backend.poll(state)
    assert raised.value.kind == BackendError.RETRIABLE and "did not answer" in raised.value.message
    stub.delay = 0.0


def test_the_yaml_in_the_docs_is_valid_kubernetes():
    import pathlib

    import yaml

    page = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "kubernetes.md").read_text()
    documents = [doc for block in re.findall(r"```yaml\n(.*?)```", page, re.S) for doc in yaml.safe_load_all(block)]
    assert {doc["kind"] for doc in documents} == {"Role", "RoleBinding", "NetworkPolicy"}
    for document in documents:
        for version in SCHEMA_VERSIONS:
            kubernetes_validate.validate(document, version, strict=True)
    role = next(doc for doc in documents if doc["kind"] == "Role")
    granted = {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
               for resource in rule["resources"] for verb in rule["verbs"]}
    used = {("", "pods", "create"), ("", "pods", "get"), ("", "pods", "delete"), ("", "pods/log", "get"),
            ("", "services", "create"), ("", "services", "delete"), ("", "secrets", "create"),
            ("", "secrets", "delete"), ("networking.k8s.io", "networkpolicies", "create"),
            ("networking.k8s.io", "networkpolicies", "delete"), ("batch", "jobs", "create"),
            ("batch", "jobs", "list"), ("batch", "jobs", "delete")}
    assert granted == used


def test_the_stub_saw_only_verbs_the_documented_role_grants(stub):
    backend = KubernetesBackend(api=stub.apis(), options=OPTIONS)
    state = backend.start(spec_for())
    backend.poll(state)
    backend.logs(state)
    backend.stop(state)
    backend.submit_step(step_job("r_1", "a", ["true"], options=OPTIONS, input_dir="/a", output_dir="/b"))
    backend.cancel_run("r_1")
    verbs = {"POST": "create", "DELETE": "delete"}
    seen = set()
    for method, path, _ in stub.requests:
        match = API_PATH.match(path)
        resource = match.group(2) + ("/log" if match.group(4) else "")
        verb = verbs.get(method) or ("get" if match.group(3) else "list")
        seen.add((resource, verb))
    assert seen == {("networkpolicies", "create"), ("secrets", "create"), ("pods", "create"),
                    ("services", "create"), ("pods", "get"), ("pods/log", "get"), ("pods", "delete"),
                    ("services", "delete"), ("secrets", "delete"), ("networkpolicies", "delete"),
                    ("jobs", "create"), ("jobs", "list"), ("jobs", "delete")}
