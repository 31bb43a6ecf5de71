"""The execution-backend contract, run against every backend: the local sandbox, Slurm (a real
single-node cluster, ``scripts/slurm``) and the fake one in each of its behaviours (answers, slow,
never starts, refuses, crashes). Kubernetes has its own tests (``test_kubernetes.py``): no cluster here."""

from __future__ import annotations

import json
import time

import pytest

from datalabs.execution.contract import BackendBase, BackendError, BackendInfo, LaunchSpec, Mount, Phase
from datalabs.execution.fake import FakeBackend
from datalabs.execution.local import LocalBackend
from datalabs.execution.registry import available, load_backend
from datalabs.execution.slurm import SlurmBackend
from datalabs.sessions.supervisor import http_get
from tests.slurm_cluster import slurm_options

SERVER = ("python3", "-m", "http.server", "8888", "--bind", "127.0.0.1")


def make_backend(kind: str):
    if kind == "local":
        return LocalBackend()
    if kind == "slurm":
        return SlurmBackend(options=slurm_options())
    return FakeBackend(behaviour=kind, delay=0.3)


def spec_for(tmp_path, session_id: str = "s_0000000000000001", command=SERVER) -> LaunchSpec:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return LaunchSpec(session_id=session_id, user="alice", command=command,
                      env={"HOME": "/media/home", "PATH": "/usr/bin:/bin"}, cpu=0.5, memory=256 * 1024**2,
                      mounts=(Mount(str(home), "/media/home", writable=True),), workdir="/media/home",
                      run_dir=str(tmp_path / "run"), port=8888)


def wait_started(backend, state, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        observation = backend.poll(state)
        if observation.phase == Phase.STARTED:
            status, _ = http_get(observation.address, "/")
            if status == 200:
                return observation
        time.sleep(0.05)
    raise AssertionError(f"not answering: {backend.poll(state)}")


@pytest.mark.parametrize("kind", ["local", "slurm", "ok", "slow"])
def test_a_started_workload_answers_at_its_address_and_stops(kind, tmp_path):
    backend = make_backend(kind)
    state = backend.start(spec_for(tmp_path))
    try:
        assert json.loads(json.dumps(state)) == state  # opaque, but JSON: it is stored on the session row
        observation = wait_started(backend, state)
        assert observation.address.unix_socket or observation.address.port
    finally:
        backend.stop(state, grace=2)
    after = backend.poll(state)
    assert after.phase in (Phase.EXITED, Phase.GONE)
    status, _ = http_get(observation.address, "/", timeout=1)
    assert status == 0


@pytest.mark.parametrize("kind", ["local", "slurm", "ok"])
def test_a_new_backend_instance_adopts_from_the_stored_state(kind, tmp_path):
    state = make_backend(kind).start(spec_for(tmp_path))
    again = make_backend(kind)  # a restarted server: same state, new backend object
    try:
        observation = wait_started(again, json.loads(json.dumps(state)))
        assert observation.phase == Phase.STARTED
    finally:
        again.stop(state, grace=2)


def test_never_starting_is_reported_as_queued_with_a_reason(tmp_path):
    backend = make_backend("never")
    state = backend.start(spec_for(tmp_path))
    observation = backend.poll(state)
    assert observation.phase == Phase.QUEUED and "queued" in observation.detail
    backend.stop(state)


def test_refusing_to_start_raises_a_backend_error_with_its_kind(tmp_path):
    with pytest.raises(BackendError) as raised:
        make_backend("fail").start(spec_for(tmp_path))
    assert raised.value.kind == BackendError.USER_ACTION and raised.value.message


@pytest.mark.parametrize("kind, command, code", [
    ("crash", SERVER, 3),
    ("local", ("sh", "-c", "echo bye; exit 3"), 3),
    ("slurm", ("sh", "-c", "echo bye; exit 3"), 3),
])
def test_an_exit_is_reported_with_its_code(kind, command, code, tmp_path):
    backend = make_backend(kind)
    state = backend.start(spec_for(tmp_path, command=command))
    deadline = time.monotonic() + 30  # a batch job ends within seconds of its datalab
    while (observation := backend.poll(state)).phase != Phase.EXITED and time.monotonic() < deadline:
        time.sleep(0.05)
    assert observation.phase == Phase.EXITED and observation.exit_code == code and "3" in observation.reason
    backend.stop(state)


@pytest.mark.parametrize("kind", ["local", "slurm", "ok"])
def test_logs_are_read_in_pieces(kind, tmp_path):
    backend = make_backend(kind)
    command = ("sh", "-c", "echo first line; echo second line; exec python3 -m http.server 8888 --bind 127.0.0.1")
    state = backend.start(spec_for(tmp_path, command=command))
    try:
        wait_started(backend, state)
        whole = backend.logs(state, 0)
        assert whole.text and whole.offset == len(whole.text.encode())
        if kind in ("local", "slurm"):
            assert "first line\nsecond line" in whole.text
        assert backend.logs(state, whole.offset).text == ""
    finally:
        backend.stop(state)


@pytest.mark.parametrize("kind", ["local", "slurm", "ok"])
def test_describe(kind):
    info = make_backend(kind).describe()
    assert isinstance(info, BackendInfo) and info.name in ("local", "slurm", "fake") and info.isolation


def test_an_incomplete_backend_fails_when_defined():
    with pytest.raises(TypeError, match="missing: poll, stop, logs, describe"):
        class Half(BackendBase):  # noqa: F841
            name = "half"

            def start(self, spec):
                return {}


def test_backends_are_found_by_name_through_entry_points():
    assert {"local", "fake", "slurm", "kubernetes"} <= set(available())
    assert isinstance(load_backend("fake"), FakeBackend)
    from datalabs.errors import InvalidInput

    with pytest.raises(InvalidInput, match="unknown execution backend 'nope'"):
        load_backend("nope")
