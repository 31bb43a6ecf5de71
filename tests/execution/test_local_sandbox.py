"""What a session of the local backend can and cannot do (real bubblewrap, real cgroups)."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest

from datalabs.execution.contract import LaunchSpec, Mount, Phase
from datalabs.execution.local import LocalBackend, process_start_time

PROBE = r"""
import json, os, socket, sys
out = {}
def attempt(name, action):
    try:
        action(); out[name] = "ok"
    except Exception as error:
        out[name] = type(error).__name__
attempt("write_volume", lambda: open("/media/data/vol/new.txt", "w").write("x"))
attempt("write_workspace", lambda: open("/media/my_workspace/made-inside.txt", "w").write("from the sandbox"))
attempt("read_shadow", lambda: open("/etc/shadow").read())
attempt("read_platform_secret", lambda: open(sys.argv[1]).read())
attempt("read_other_workspace", lambda: open(sys.argv[2]).read())
attempt("connect_host_port", lambda: socket.create_connection(("127.0.0.1", int(sys.argv[3])), timeout=2))
attempt("connect_outside", lambda: socket.create_connection(("1.1.1.1", 80), timeout=2))
out["volume_listing"] = sorted(os.listdir("/media/data/vol"))
out["media"] = sorted(os.listdir("/media"))
out["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
out["user"] = os.environ.get("USER"), os.getuid()
out["env_keys"] = sorted(os.environ)
open("/media/my_workspace/probe.json", "w").write(json.dumps(out))
"""


@pytest.fixture
def places(tmp_path):
    paths = {name: tmp_path / name for name in ("home", "ws", "vol", "other", "platform")}
    for path in paths.values():
        path.mkdir()
    (paths["vol"] / "label.lbl").write_text("PDS_VERSION_ID = PDS3\nEND\n")
    (paths["other"] / "secret.txt").write_text("bob's")
    (paths["platform"] / "secret_key").write_text("platform secret")
    return paths


def spec(tmp_path, places, command, memory=512 * 1024**2, session_id="s_00000000000000aa"):
    return LaunchSpec(
        session_id=session_id, user="alice", command=tuple(command),
        env={"HOME": "/media/home", "PATH": "/opt/datalabs/bin:/usr/bin:/bin", "USER": "alice"}, cpu=1,
        memory=memory, workdir="/media/home", run_dir=str(tmp_path / f"run-{session_id}"), port=8888,
        mounts=(Mount(str(places["home"]), "/media/home", True), Mount(str(places["ws"]), "/media/my_workspace", True),
                Mount(str(places["vol"]), "/media/data/vol")),
    )


def run_to_end(backend, state, timeout=20):
    deadline = time.monotonic() + timeout
    while (observation := backend.poll(state)).phase == Phase.STARTED and time.monotonic() < deadline:
        time.sleep(0.05)
    return observation


def test_the_sandbox_sees_only_its_mounts_and_no_network(tmp_path, places):
    with socket.socket() as listener:  # a service of the host: must be out of reach
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        backend = LocalBackend()
        command = ["python3", "-c", PROBE, str(places["platform"] / "secret_key"), str(places["other"] / "secret.txt"),
                   str(port)]
        state = backend.start(spec(tmp_path, places, command))
        observation = run_to_end(backend, state)
        backend.stop(state)
    assert observation.exit_code == 0, backend.logs(state).text
    found = json.loads((places["ws"] / "probe.json").read_text())
    assert found["write_volume"] == "OSError"  # read-only file system
    assert found["write_workspace"] == "ok"
    assert (places["ws"] / "made-inside.txt").read_text() == "from the sandbox"
    assert found["read_shadow"] == "FileNotFoundError"
    assert found["read_platform_secret"] == "FileNotFoundError"
    assert found["read_other_workspace"] == "FileNotFoundError"
    assert found["connect_host_port"] in ("ConnectionRefusedError", "OSError")
    assert found["connect_outside"] in ("OSError", "TimeoutError")
    assert found["volume_listing"] == ["label.lbl"]
    assert found["media"] == ["data", "home", "my_workspace"]
    assert len(found["pids"]) <= 3  # its own PID namespace: bwrap's init, the shell, python
    assert found["user"] == ["alice", 1000]
    assert not [key for key in found["env_keys"] if key.startswith("DATALABS")]
    assert os.listdir(places["vol"]) == ["label.lbl"]


def test_going_over_the_memory_limit_is_seen_and_stop_leaves_no_process(tmp_path, places):
    backend = LocalBackend()
    if backend.cgroups is None:
        pytest.skip("no writable cgroup hierarchy on this machine")
    command = ["sh", "-c", "python3 -c 'b = bytearray(600 * 2**20)'; sleep 60"]
    state = backend.start(spec(tmp_path, places, command, memory=128 * 1024**2))
    deadline = time.monotonic() + 20
    while not (observation := backend.poll(state)).memory_exceeded and time.monotonic() < deadline:
        time.sleep(0.05)
    assert observation.memory_exceeded and "memory limit of 128" in observation.reason
    assert backend.pids(state)
    backend.stop(state, grace=1)
    assert backend.pids(state) == []


def test_destroy_ends_every_process_even_detached_ones(tmp_path, places):
    backend = LocalBackend()
    command = ["sh", "-c", "setsid sleep 300 & nohup sleep 301 & python3 -m http.server 8888 --bind 127.0.0.1"]
    state = backend.start(spec(tmp_path, places, command))
    time.sleep(0.5)
    pids = backend.pids(state)
    assert len(pids) >= 4
    backend.stop(state, grace=1)
    time.sleep(0.1)
    assert backend.pids(state) == []
    assert not [pid for pid in pids if process_start_time(pid) is not None]  # (zombies wait for init: not alive)


def test_the_datalab_reports_its_state_with_the_helper(tmp_path, places):
    backend = LocalBackend()
    command = ["sh", "-c", "datalab-status error 'could not \"open\" the file'; sleep 30"]
    state = backend.start(spec(tmp_path, places, command))
    deadline = time.monotonic() + 10
    while not (observation := backend.poll(state)).reported and time.monotonic() < deadline:
        time.sleep(0.05)
    backend.stop(state, grace=1)
    assert observation.reported == {"state": "error", "message": 'could not "open" the file'}


def test_a_status_file_swapped_for_a_link_is_ignored(tmp_path, places):
    backend = LocalBackend()
    command = ["sh", "-c", "ln -s /etc/hostname /run/datalab/status.json; sleep 30"]
    state = backend.start(spec(tmp_path, places, command))
    time.sleep(0.5)
    observation = backend.poll(state)
    backend.stop(state, grace=1)
    assert observation.reported == {}


def test_one_session_cannot_reach_another(tmp_path, places):
    backend = LocalBackend()
    first = backend.start(spec(tmp_path, places, ["python3", "-m", "http.server", "8888", "--bind", "127.0.0.1"],
                               session_id="s_00000000000000a1"))
    probe = (
        "import json, socket, sys\n"
        "out = {}\n"
        "try:\n    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); out['unix'] = 'ok'\n"
        "except OSError as e:\n    out['unix'] = type(e).__name__\n"
        "try:\n    socket.create_connection(('127.0.0.1', 8888), timeout=2); out['tcp'] = 'ok'\n"
        "except OSError as e:\n    out['tcp'] = type(e).__name__\n"
        "open('/media/my_workspace/reach.json', 'w').write(json.dumps(out))\n"
    )
    try:
        from datalabs.sessions.supervisor import http_get

        deadline = time.monotonic() + 10
        while http_get(backend.poll(first).address, "/")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        second = backend.start(spec(tmp_path, places, ["python3", "-c", probe, first["socket"]],
                                    session_id="s_00000000000000b2"))
        run_to_end(backend, second)
        backend.stop(second)
    finally:
        backend.stop(first)
    reach = json.loads((places["ws"] / "reach.json").read_text())
    assert reach == {"unix": "FileNotFoundError", "tcp": "ConnectionRefusedError"}  # A's port is not in B's network
