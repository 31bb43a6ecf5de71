"""The ``kubernetes`` backend: each session is a Pod with a Service, a NetworkPolicy and a Secret.

``start`` creates the NetworkPolicy first (the pod never runs a moment without it), then the Secret
holding the secret part of the environment (referenced by ``secretKeyRef``, never inline), the Pod and
the ClusterIP Service the proxy connects to (``<service>.<namespace>.svc.<cluster domain>``: the platform
runs in the cluster). The state stored on the session row names them all, so a restarted server adopts
the session again. Manifests are built in :mod:`datalabs.execution.kubernetes_manifests`.

The API is reached through the official ``kubernetes`` client, configured on first use (in-cluster service
account, else a kubeconfig); importing this module needs no cluster. Pipeline steps as Jobs
(:meth:`KubernetesBackend.submit_step`, :meth:`KubernetesBackend.cancel_run`) are built and tested but
not yet used by the pipeline driver. See ``docs/kubernetes.md``.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from datalabs.execution.contract import (
    Address,
    BackendBase,
    BackendError,
    BackendInfo,
    LaunchSpec,
    LogChunk,
    Observation,
    Phase,
)
from datalabs.execution.kubernetes_manifests import (
    CONTAINER,
    KubernetesOptions,
    run_selector,
    session_manifests,
)
from datalabs.sizes import format_size

TRANSPORT_ERRORS = (HTTPError, OSError, TimeoutError)
DELETE_WAIT = 30.0  # seconds beyond the grace period to wait for a pod to go before removing its policy


@dataclass(frozen=True)
class KubernetesApis:
    """The API groups the backend uses: ``CoreV1Api``, ``NetworkingV1Api`` and ``BatchV1Api`` (or fakes)."""

    core: Any
    networking: Any
    batch: Any

    @classmethod
    def from_config(cls) -> KubernetesApis:
        """In the cluster: the pod's service account; outside: the kubeconfig (``KUBECONFIG``, ~/.kube/config)."""
        from kubernetes import client, config

        configuration = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=configuration)
        except config.ConfigException as in_cluster:
            try:
                # KUBECONFIG as it is now: the client reads it once, when first imported
                config.load_kube_config(os.environ.get("KUBECONFIG") or None, client_configuration=configuration)
            except (config.ConfigException, OSError, TypeError, ValueError) as error:
                raise BackendError(
                    "the kubernetes backend has no cluster to talk to: not running in a pod with a service "
                    f"account ({in_cluster}) and no usable kubeconfig ({error})", BackendError.PERMANENT) from error
        api_client = client.ApiClient(configuration)
        return cls(client.CoreV1Api(api_client), client.NetworkingV1Api(api_client), client.BatchV1Api(api_client))


def api_message(error: ApiException) -> str:
    """The ``message`` of the API's Status object, else the HTTP reason."""
    try:
        body = json.loads(error.body or "")
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(error.reason or error.body or f"HTTP {error.status}")


def backend_error(error: Exception, doing: str) -> BackendError:
    """What an API failure means for the core: try again, the user must change something, or never."""
    if not isinstance(error, ApiException):
        return BackendError(f"could not {doing}: the Kubernetes API did not answer ({error})", BackendError.RETRIABLE)
    status = error.status or 0
    message = api_message(error)
    if status == 403 and ("exceeded quota" in message or "usage per" in message):  # ResourceQuota, LimitRange
        return BackendError(f"the cluster refused to {doing}: {message}", BackendError.USER_ACTION)
    if status in (401, 403):
        return BackendError(f"the platform may not {doing} (check its service account and the RBAC Role in "
                            f"docs/kubernetes.md): {message}", BackendError.PERMANENT)
    if status in (0, 409, 429) or status >= 500:  # 409: a namesake is still being deleted
        return BackendError(f"could not {doing} (HTTP {status}): {message}", BackendError.RETRIABLE)
    return BackendError(f"could not {doing} (HTTP {status}): {message}", BackendError.PERMANENT)


def _complete_utf8(data: bytes) -> bytes:
    """``data`` without a character cut in two at its end (the next read starts with it)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return data
        if byte >= 0xC0:  # the lead byte of a sequence of this many bytes
            length = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return data if back >= length else data[:-back]
    return data


class KubernetesBackend(BackendBase):
    name = "kubernetes"

    def __init__(self, settings=None, *, api: Any = None, options: KubernetesOptions | None = None) -> None:
        """``api``: a :class:`KubernetesApis`, or one object serving all three API groups (tests); None:
        configured from the environment at first use."""
        self.options = options or KubernetesOptions.from_settings(settings)
        if api is not None and not isinstance(api, KubernetesApis):
            api = KubernetesApis(api, api, api)
        self._apis: KubernetesApis | None = api
        self._lock = threading.Lock()

    @property
    def _timeout(self) -> dict:
        """Every API call gives up after this (a hung API server must not hang the session supervisor)."""
        return {"_request_timeout": self.options.request_timeout}

    @property
    def apis(self) -> KubernetesApis:
        with self._lock:
            if self._apis is None:
                self._apis = KubernetesApis.from_config()
            return self._apis

    # -- sessions -------------------------------------------------------------------------------

    def start(self, spec: LaunchSpec) -> dict:
        try:
            manifests = session_manifests(spec, self.options)
        except ValueError as error:
            raise BackendError(f"cannot describe this session to Kubernetes: {error}") from error
        apis, namespace, names = self.apis, self.options.namespace, manifests.names
        state = {"namespace": namespace, "session": spec.session_id, "pod": names["pod"],
                 "service": names["service"], "policy": names["policy"],
                 "secret": names["secret"] if manifests.secret is not None else None,
                 "host": manifests.host(self.options), "port": spec.port, "memory": spec.memory}
        created: dict = {"namespace": namespace}
        timeout = self._timeout
        try:
            apis.networking.create_namespaced_network_policy(namespace, manifests.policy, **timeout)
            created["policy"] = names["policy"]
            if manifests.secret is not None:
                apis.core.create_namespaced_secret(namespace, manifests.secret, **timeout)
                created["secret"] = names["secret"]
            pod = apis.core.create_namespaced_pod(namespace, manifests.pod, **timeout)
            created["pod"] = names["pod"]
            uid = getattr(getattr(pod, "metadata", None), "uid", None)
            if uid:  # deleted with its pod, whoever deletes the pod
                manifests.service.metadata.owner_references = [k8s.V1OwnerReference(
                    api_version="v1", kind="Pod", name=names["pod"], uid=uid)]
            apis.core.create_namespaced_service(namespace, manifests.service, **timeout)
        except (ApiException, *TRANSPORT_ERRORS) as error:
            try:
                self._delete(created, grace=0, wait=None)
            except BackendError:
                pass  # no state is stored for a failed start: leftovers carry the datalabs.dev/session label
            raise backend_error(error, f"start session {spec.session_id}") from error
        return state

    def poll(self, state: dict) -> Observation:
        try:
            pod = self.apis.core.read_namespaced_pod(state["pod"], state["namespace"], **self._timeout)
        except ApiException as error:
            if error.status == 404:
                return Observation(Phase.GONE, reason="the session's pod no longer exists")
            raise backend_error(error, "read the session's pod") from error
        except TRANSPORT_ERRORS as error:
            raise backend_error(error, "read the session's pod") from error
        return observe(pod, state)

    def stop(self, state: dict, *, grace: float = 5.0) -> None:
        self._delete(state, grace=grace, wait=DELETE_WAIT)

    def _delete(self, state: dict, *, grace: float, wait: float | None) -> None:
        """Pod, Service and Secret, then the NetworkPolicy once the pod is gone (a pod that outlives the
        wait keeps its policy: the next stop, from the reconciler, removes it). ``wait=None``: cleaning up
        after a failed start, whose pod (if any) was created a moment ago and is killed at once."""
        core, namespace, timeout = self.apis.core, state["namespace"], self._timeout
        seconds = max(0, math.ceil(grace))
        deletions = [("pod", lambda name: core.delete_namespaced_pod(name, namespace, grace_period_seconds=seconds,
                                                                     **timeout)),
                     ("service", lambda name: core.delete_namespaced_service(name, namespace, **timeout)),
                     ("secret", lambda name: core.delete_namespaced_secret(name, namespace, **timeout))]
        for key, delete in deletions:
            if state.get(key):
                self._call(delete, state[key], f"delete the session's {key}", missing_ok=True)
        if not state.get("policy"):
            return
        if wait is not None and state.get("pod") and not self._pod_gone(state["pod"], namespace, seconds + wait):
            return
        self._call(lambda name: self.apis.networking.delete_namespaced_network_policy(name, namespace, **timeout),
                   state["policy"], "delete the session's network policy", missing_ok=True)

    def _pod_gone(self, name: str, namespace: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.apis.core.read_namespaced_pod(name, namespace, **self._timeout)
            except ApiException as error:
                if error.status == 404:
                    return True
            except TRANSPORT_ERRORS:
                pass
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.5)

    @staticmethod
    def _call(function, name: str, doing: str, *, missing_ok: bool = False):
        try:
            return function(name)
        except ApiException as error:
            if missing_ok and error.status == 404:
                return None
            raise backend_error(error, doing) from error
        except TRANSPORT_ERRORS as error:
            raise backend_error(error, doing) from error

    def logs(self, state: dict, offset: int = 0, limit: int = 1 << 20) -> LogChunk:
        """The API reads a log from its start: read ``offset + limit`` bytes and keep the tail (a rotated
        log on the node shifts offsets; a deleted pod has no log any more)."""
        offset = max(0, offset)
        if limit <= 0:
            return LogChunk("", offset)
        try:
            response = self.apis.core.read_namespaced_pod_log(
                state["pod"], state["namespace"], container=CONTAINER, limit_bytes=offset + limit,
                _preload_content=False, **self._timeout)
        except ApiException as error:
            if error.status in (400, 404):  # not started yet, or gone
                return LogChunk("", offset)
            raise backend_error(error, "read the session's log") from error
        except TRANSPORT_ERRORS as error:
            raise backend_error(error, "read the session's log") from error
        data = response.data if hasattr(response, "data") else response
        if hasattr(response, "release_conn"):
            response.release_conn()
        if isinstance(data, str):
            data = data.encode()
        piece = data[offset:offset + limit]
        if len(piece) == limit:
            piece = _complete_utf8(piece)
        return LogChunk(piece.decode("utf-8", "replace"), offset + len(piece))

    def describe(self) -> BackendInfo:
        return BackendInfo(
            name=self.name, enforces_limits=True,
            isolation=f"Kubernetes pod: uid {self.options.uid}, non-root, no capabilities, read-only root, seccomp "
                      "RuntimeDefault; NetworkPolicy: ingress only from the platform, no egress (needs a CNI that "
                      "enforces it)",
            details={"namespace": self.options.namespace, "image": self.options.image,
                     "volume_claims": dict(self.options.volume_claims),
                     "platform_url": self.options.platform_url or "none (sessions have no network)"},
        )

    # -- pipeline steps (built and tested; not yet used by the pipeline driver) -----------------

    def submit_step(self, job: k8s.V1Job) -> str:
        """Create a step's Job (from :func:`~datalabs.execution.kubernetes_manifests.step_job`); its name."""
        self._call(lambda _: self.apis.batch.create_namespaced_job(self.options.namespace, job, **self._timeout),
                   job.metadata.name, "submit the pipeline step")
        return job.metadata.name

    def step_jobs(self, run_id: str) -> list[str]:
        """Names of the Jobs of a pipeline run, found by its label."""
        listing = self._call(lambda selector: self.apis.batch.list_namespaced_job(
            self.options.namespace, label_selector=selector, **self._timeout),
            run_selector(run_id), "list the run's jobs")
        return sorted(item.metadata.name for item in listing.items)

    def cancel_run(self, run_id: str) -> list[str]:
        """Delete every Job of a run with its pods (``Background`` propagation: the API's default for Jobs
        leaves their pods running). Returns the names deleted; a Job already gone is not an error."""
        names = self.step_jobs(run_id)
        for name in names:
            self._call(lambda job: self.apis.batch.delete_namespaced_job(
                job, self.options.namespace, propagation_policy="Background", **self._timeout),
                name, "cancel the run's job", missing_ok=True)
        return names


def _container_status(pod: Any) -> Any:
    statuses = list(getattr(pod.status, "container_statuses", None) or [])
    return next((status for status in statuses if status.name == CONTAINER), statuses[0] if statuses else None)


def _pending_detail(pod: Any) -> str:
    for condition in pod.status.conditions or []:
        if condition.type == "PodScheduled" and condition.status == "False":
            reason = condition.reason or "not scheduled"
            return f"queued: {reason}: {condition.message}" if condition.message else f"queued: {reason}"
    for status in [*(pod.status.init_container_statuses or []), *(pod.status.container_statuses or [])]:
        waiting = status.state.waiting if status.state else None
        if waiting is not None and waiting.reason:
            return f"queued: {waiting.reason}" + (f": {waiting.message}" if waiting.message else "")
    return "queued: waiting for the cluster"


def observe(pod: Any, state: dict) -> Observation:
    """What a pod's status says, in the contract's terms."""
    phase = pod.status.phase if pod.status else None
    if phase in (None, "Pending"):
        return Observation(Phase.QUEUED, detail=_pending_detail(pod))
    if phase in ("Running", "Unknown"):
        detail = "the cluster has lost contact with the session's node" if phase == "Unknown" else ""
        return Observation(Phase.STARTED, address=Address(host=state["host"], port=state["port"]), detail=detail)
    status = _container_status(pod)
    terminated = status.state.terminated if status is not None and status.state else None
    code = terminated.exit_code if terminated is not None else None
    message = pod.status.message or ""
    if terminated is not None and terminated.reason == "OOMKilled":
        return Observation(Phase.EXITED, exit_code=code, memory_exceeded=True,
                           reason=f"stopped: the session went over its memory limit of "
                                  f"{format_size(state.get('memory', 0))}; launch it with more memory or use less")
    if pod.status.reason == "Evicted":
        reason = f"the cluster evicted the session: {message or 'no reason given'}"
    elif pod.status.reason == "DeadlineExceeded":
        reason = f"the session reached its time limit: {message or 'active deadline exceeded'}"
    elif pod.status.reason:
        reason = f"{pod.status.reason}: {message}" if message else pod.status.reason
    elif code not in (None, 0):
        reason = (f"the datalab was killed by signal {code - 128}" if code >= 128
                  else f"the datalab exited with code {code}")
    elif phase == "Failed":
        reason = message or "the session's pod failed"
    else:
        reason = ""
    return Observation(Phase.EXITED, exit_code=code, reason=reason)
