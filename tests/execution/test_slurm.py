"""The ``slurm`` backend against a real single-node Slurm cluster (slurmctld + slurmd + munge, started by
``scripts/slurm``): what only a batch system does. The contract itself runs in ``test_contract.py``.

Slurm's own verdicts are produced for real: a job waiting behind another (queued, position, reason),
a job over its memory (OUT_OF_MEMORY, by Slurm's cgroup), past its time limit (TIMEOUT, a minute: Slurm's
smallest), on a node that fails (the node set DOWN: NODE_FAIL)."""

from __future__ import annotations

import json
import re
import time

import pytest

from datalabs.execution.contract import BackendError, LaunchSpec, Mount, Phase
from datalabs.execution.slurm import ADDRESS_FILE, SECRETS_FILE, SlurmBackend
from datalabs.execution.slurm_cli import SlurmOptions, parse_oneliner, resource_args
from datalabs.sessions.supervisor import http_get
from tests.slurm_cluster import cancel_all_jobs, fill_the_cluster, node_name, slurm, slurm_options

SERVER = ("python3", "-m", "http.server", "8888", "--bind", "127.0.0.1")


@pytest.fixture(autouse=True)
def _no_jobs_left():
    cancel_all_jobs()
    yield
    cancel_all_jobs()


def spec_for(tmp_path, command=SERVER, session_id="s_00000000000000b1", memory=256 * 1024**2, cpu=0.5,
             env=None, secret_env=frozenset()) -> LaunchSpec:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return LaunchSpec(session_id=session_id, user="alice", command=command,
                      env={"HOME": "/media/home", "PATH": "/usr/bin:/bin", **(env or {})}, cpu=cpu, memory=memory,
                      mounts=(Mount(str(home), "/media/home", writable=True),), workdir="/media/home",
                      run_dir=str(tmp_path / f"run-{session_id}"), port=8888, secret_env=secret_env)


def wait_for(backend, state, phases, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        observation = backend.poll(state)
        if observation.phase in phases:
            return observation
        time.sleep(0.1)
    raise AssertionError(f"still {backend.poll(state)} after {timeout} s")


def test_a_session_is_a_batch_job_with_its_cpus_and_memory_reached_on_its_node(tmp_path):
    backend = SlurmBackend(options=slurm_options())
    secret_command = ("sh", "-c", "echo token=${DATALABS_TOKEN:-missing}; exec python3 -m http.server 8888 "
                      "--bind 127.0.0.1")
    state = backend.start(spec_for(tmp_path, command=secret_command, cpu=1.5, memory=300 * 1024**2,
                                   env={"DATALABS_TOKEN": "dlt_secret"}, secret_env=frozenset({"DATALABS_TOKEN"})))
    job = parse_oneliner(slurm("scontrol", "show", "job", "--oneliner", state["job_id"]).stdout)
    assert job["JobName"] == "datalab-s_00000000000000b1"
    assert job["NumCPUs"] == "2"  # 1.5 CPUs: Slurm allocates whole ones, rounded up
    assert job["MinMemoryNode"] == f"{300 + 96}M"  # the session's memory plus the job's own processes
    assert "dlt_secret" not in (tmp_path / "run-s_00000000000000b1" / "launch.json").read_text()
    observation = wait_for(backend, state, {Phase.STARTED, Phase.EXITED})
    assert observation.phase == Phase.STARTED
    assert observation.address.host == node_name() and observation.address.port
    deadline = time.monotonic() + 30
    while http_get(observation.address, "/")[0] != 200:  # the job runs; the app inside may still be starting
        assert time.monotonic() < deadline, backend.logs(state).text
        time.sleep(0.1)
    run_dir = tmp_path / "run-s_00000000000000b1"
    assert not (run_dir / SECRETS_FILE).exists()  # read by the job, then removed
    assert "token=dlt_secret" in backend.logs(state).text  # the secret reached the datalab's environment
    backend.stop(state, grace=5)
    ended = backend.poll(state)
    assert ended.phase == Phase.EXITED and not (run_dir / ADDRESS_FILE).exists()
    assert http_get(observation.address, "/", timeout=1)[0] == 0


def test_the_session_port_admits_only_the_platform(tmp_path):
    backend = SlurmBackend(options=slurm_options(allowed_sources="192.0.2.1/32"))  # not this host
    state = backend.start(spec_for(tmp_path, env={"PYTHONUNBUFFERED": "1"}))
    try:
        deadline = time.monotonic() + 60  # the app listens (http.server says so in the log) and the port is open
        while _address(tmp_path / "run-s_00000000000000b1") is None or "Serving HTTP" not in backend.logs(state).text:
            assert time.monotonic() < deadline, backend.logs(state).text
            time.sleep(0.1)
        assert http_get(backend.poll(state).address, "/", timeout=2)[0] == 0  # accepted, then dropped by socat
    finally:
        backend.stop(state)


def _address(run_dir):
    try:
        return json.loads((run_dir / ADDRESS_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return None


def test_a_waiting_job_is_queued_with_its_position_and_slurms_reason(tmp_path):
    blocker = fill_the_cluster()
    backend = SlurmBackend(options=slurm_options())
    first = backend.start(spec_for(tmp_path, session_id="s_00000000000000c1"))
    second = backend.start(spec_for(tmp_path, session_id="s_00000000000000c2"))
    deadline = time.monotonic() + 30
    while True:  # until the scheduler has looked at them (its batch pass comes within seconds)
        backend.commands.forget_queue()
        one, two = backend.poll(first), backend.poll(second)
        if "reason None" not in one.detail + two.detail or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert one.phase == two.phase == Phase.QUEUED
    assert one.detail.startswith("queued: position 1, ") and "(Slurm job" in one.detail
    assert two.detail.startswith("queued: position 2, ")
    assert "waiting for free CPUs or memory (Slurm job" in one.detail and "reason Resources" in one.detail
    slurm("scancel", blocker)
    started = wait_for(backend, first, {Phase.STARTED})  # the queue moves on its own
    assert started.address.port
    for state in (first, second):
        backend.stop(state)


def test_a_job_over_its_memory_is_ended_by_slurm_and_says_so(tmp_path):
    backend = SlurmBackend(options=slurm_options())
    hog = ("python3", "-c", "import time\nblocks = []\nwhile True:\n    blocks.append(bytearray(20 * 2**20))\n"
                            "    time.sleep(0.01)")
    state = backend.start(spec_for(tmp_path, command=hog, memory=100 * 1024**2))
    observation = wait_for(backend, state, {Phase.EXITED, Phase.GONE})
    assert observation.memory_exceeded
    assert "OUT_OF_MEMORY" in observation.reason and "memory limit of 100.0 MiB" in observation.reason


def test_a_job_on_a_node_that_fails_is_reported_as_a_node_failure(tmp_path):
    backend = SlurmBackend(options=slurm_options())
    state = backend.start(spec_for(tmp_path))
    wait_for(backend, state, {Phase.STARTED})
    node = node_name()
    slurm("scontrol", "update", f"NodeName={node}", "State=DOWN", "Reason=datalabs test: node failure")
    try:
        observation = wait_for(backend, state, {Phase.EXITED})
    finally:
        slurm("scontrol", "update", f"NodeName={node}", "State=RESUME", check=False)  # may be back already
    assert "NODE_FAIL" in observation.reason and node in observation.reason
    deadline = time.monotonic() + 30
    while "idle" not in slurm("sinfo", "--noheader", "--format=%T").stdout:
        assert time.monotonic() < deadline, "the node did not come back"
        time.sleep(0.2)


def test_a_job_past_its_time_limit_is_ended_by_slurm_and_says_so(tmp_path):
    backend = SlurmBackend(options=slurm_options(extra_args=("--time=1",)))  # Slurm's smallest limit: a minute
    state = backend.start(spec_for(tmp_path, command=("sleep", "600")))
    observation = wait_for(backend, state, {Phase.EXITED}, timeout=150)
    assert "TIMEOUT" in observation.reason and "time limit of 00:01:00" in observation.reason


def test_refusals_are_backend_errors_the_user_can_act_on(tmp_path):
    backend = SlurmBackend(options=slurm_options())
    with pytest.raises(BackendError) as raised:
        backend.start(spec_for(tmp_path, memory=10 * 1024**5))  # 10 PiB: no node has it
    assert raised.value.kind == BackendError.USER_ACTION
    assert raised.value.message.startswith("Slurm refused the job: ")
    with pytest.raises(BackendError) as raised:
        SlurmBackend(options=slurm_options(partition="nope")).start(spec_for(tmp_path))
    assert "partition" in raised.value.message.lower() and raised.value.kind == BackendError.USER_ACTION


def test_an_unreachable_controller_is_retriable(tmp_path):
    broken = tmp_path / "slurm.conf"
    text = open(slurm_options().conf).read()  # the controller moved to a port where nothing listens
    broken.write_text(re.sub(r"SlurmctldPort=\d+", "SlurmctldPort=1", text) + "MessageTimeout=1\n")
    backend = SlurmBackend(options=SlurmOptions(conf=str(broken)))
    with pytest.raises(BackendError) as raised:
        backend.start(spec_for(tmp_path))
    assert raised.value.kind == BackendError.RETRIABLE


def test_a_job_slurm_forgot_is_judged_by_what_it_wrote(tmp_path):
    backend = SlurmBackend(options=slurm_options())
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert backend.poll({"job_id": "999999", "run_dir": str(run_dir)}).phase == Phase.GONE
    (run_dir / "exit_code").write_text("0\n")
    observation = backend.poll({"job_id": "999999", "run_dir": str(run_dir)})
    assert observation.phase == Phase.EXITED and observation.exit_code == 0


def test_resources_are_rounded_up_never_down():
    assert resource_args(0.5, 1) == ["--cpus-per-task=1", "--mem=1M"]
    assert resource_args(2.01, 1024**3 + 1, 30) == ["--cpus-per-task=3", "--mem=1025M", "--time=30"]
