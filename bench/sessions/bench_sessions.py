"""Session benchmark: datalab sessions (bubblewrap sandbox + supervisor + proxy) against the bare app.

Each measurement has its baseline in the same run, on the same machine, with the same client:

1. **launch**: ``POST /api/v1/sessions`` of the JupyterLab example until its ``api/status`` answers
   200 through the proxy, against starting the same ``jupyter lab`` (same environment, same flags,
   a free TCP port, no sandbox) and polling its ``api/status``. Target: ratio <= 1.2.
2. **proxy throughput**: requests/s for a small file through the proxy against straight to the
   session's Unix socket (same load client, same keep-alive connections), and MB/s of a 1 GiB
   download (curl through the proxy, ``curl --unix-socket`` direct). Targets: >= 0.6 and >= 0.8.
3. **WebSocket echo**: round trips through the proxy against straight to the session's socket;
   the added p50 must stay under 1 ms.
4. **50 idle sessions** of a light datalab: all answer 200 through the proxy; memory per session.

The light app (``labserver.py``, standard library only) runs inside the sandbox on its python3;
it is copied into the user's workspace, which is mounted at ``/media/my_workspace``.
Figures go to standard output, ``bench/results/sessions.json`` and ``bench/results/sessions.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
import websockets  # noqa: E402
import websockets.sync.client  # noqa: E402

import loadclient  # noqa: E402
from datalabs.accounts.actor import Actor  # noqa: E402
from datalabs.accounts.service import AccountService  # noqa: E402
from datalabs.catalogue.environments import EnvironmentBuilder  # noqa: E402
from datalabs.catalogue.service import CatalogueService  # noqa: E402
from datalabs.db import migrate  # noqa: E402
from datalabs.db.engine import make_engine, make_session_factory  # noqa: E402
from datalabs.sessions.spec import APP_PORT, jupyterlab_command  # noqa: E402
from datalabs.settings import Settings  # noqa: E402

RESULTS_JSON = REPO / "bench" / "results" / "sessions.json"
RESULTS_MD = REPO / "bench" / "results" / "sessions.md"
JUPYTERLAB_EXAMPLE = REPO / "examples" / "datalabs" / "jupyterlab"
UV_CACHE = Path.home() / ".cache" / "datalabs-tests" / "uv"  # shared with the live tests: warm builds
LAB_SERVER = Path(__file__).resolve().parent / "labserver.py"
MB = 1_000_000
USER = "bench"
POLL = 0.05  # both sides of the launch comparison poll api/status this often
TARGETS = {"launch_ratio_max": 1.2, "small_ratio_min": 0.6, "download_ratio_min": 0.8, "ws_added_p50_ms_max": 1.0}
WEB_LAB = """title: Bench web lab
alternateName: benchweb
abstract: The session benchmark's light app (HTTP keep-alive files and a WebSocket echo).
distribution.license: MIT
version: "1.0"
runtime:
  kind: web
  command: [python3, /media/my_workspace/labserver.py, "{port}"]
  environment: none
  cpu: {default: 0.5, max: 2}
  memory: {default: 128M, max: 2G}
"""


class BenchError(Exception):
    """The benchmark could not run (as opposed to: it ran and was slow)."""


def log(message: str) -> None:
    print(f"[bench/sessions] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# -- setting up -------------------------------------------------------------------------------


def prepare(tmp: Path) -> dict:
    """A data folder with the schema, an admin, the user 'bench' and its token, both datalabs published."""
    data = tmp / "data"
    data.mkdir()
    settings = Settings(data_dir=data, env_cache_dir=UV_CACHE, secret_key="bench", database_url=None,
                        build_environments=True, backend="local")
    migrate.upgrade(settings)
    engine = make_engine(settings)
    factory = make_session_factory(engine)
    builder = EnvironmentBuilder(settings, factory)
    try:
        with factory() as db:
            accounts = AccountService(db)
            accounts.create_user("labadmin", password="password-123456", role="admin")
            accounts.create_user(USER, password="password-123456")
            token = accounts.create_token(USER, name="bench").secret
            admin = Actor.of(accounts.repo.user_by_name("labadmin"))
            catalogue = CatalogueService(db, settings, builder, start_builds=False)
            packages = tmp / "packages"
            shutil.copytree(JUPYTERLAB_EXAMPLE, packages / "jupyterlab")
            (packages / "benchweb").mkdir()
            (packages / "benchweb" / "datalab-meta.yml").write_text(WEB_LAB)
            env_ids = {}
            for name in ("jupyterlab", "benchweb"):
                imported = catalogue.import_folder(admin, packages / name)
                catalogue.submit(admin, name, imported.version)
                published = catalogue.publish(admin, name, imported.version)
                env_ids[name] = getattr(published, "environment_id", None) or imported.environment_id
        log("building the jupyterlab example's environment (uv, cache ~/.cache/datalabs-tests/uv)")
        started = time.perf_counter()
        built = builder.build(env_ids["jupyterlab"])
        if built.status != "ready":
            raise BenchError(f"the jupyterlab environment did not build: {built.reason} (log {built.log_path})")
        log(f"  environment ready in {time.perf_counter() - started:.1f} s: {built.path}")
    finally:
        builder.shutdown()
        engine.dispose()
    workspace = settings.workspaces_dir / "users" / USER
    workspace.mkdir(parents=True, exist_ok=True)
    shutil.copy(LAB_SERVER, workspace / "labserver.py")
    (workspace / "small.txt").write_bytes(b"x" * 100)
    return {"settings": settings, "data": data, "token": token, "env_path": built.path, "workspace": workspace}


def write_big_file(path: Path, size: int) -> None:
    block = os.urandom(1 << 20)
    with path.open("wb") as out:
        for i in range(size // len(block)):
            out.write(block[:8] + i.to_bytes(8, "little") + block[16:])
        out.write(block[: size % len(block)])


class Server:
    """``python -m datalabs serve`` on a fresh port, on the bench's data folder."""

    def __init__(self, data: Path, log_file: Path, per_user: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DATALABS_")}
        env.update({"DATALABS_DATA_DIR": str(data), "DATALABS_SECRET_KEY": "bench", "DATALABS_BACKEND": "local",
                    "DATALABS_BUILD_ENVIRONMENTS": "false", "DATALABS_PORT": str(self.port),
                    "DATALABS_LOG_LEVEL": "warning", "DATALABS_SESSIONS_PER_USER": str(per_user),
                    "DATALABS_SESSION_IDLE_MINUTES": "0"})
        self.log_file = log_file
        self.out = log_file.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "datalabs", "serve"], env=env, stdout=self.out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"datalabs serve exited with {self.proc.returncode}:\n{tail(log_file)}")
            try:
                if httpx.get(self.url + "/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise BenchError(f"datalabs serve did not answer in 60 s:\n{tail(log_file)}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()


class Api:
    def __init__(self, server: Server, token: str) -> None:
        self.auth = {"Authorization": f"Bearer {token}"}
        self.http = httpx.Client(base_url=server.url, headers=self.auth, timeout=60)

    def launch(self, datalab: str, **resources) -> str:
        answer = self.http.post("/api/v1/sessions", json={"datalab": datalab, **resources})
        if answer.status_code != 201:
            raise BenchError(f"launch of {datalab} refused: {answer.status_code} {answer.text}")
        return answer.json()["id"]

    def state(self, session_id: str) -> dict:
        return self.http.get(f"/api/v1/sessions/{session_id}").json()

    def wait(self, session_id: str, states=("running",), timeout: float = 180) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            body = self.state(session_id)
            if body["state"] in states:
                return body
            if body["state"] in ("failed", "stopped") or time.monotonic() > deadline:
                events = self.http.get(f"/api/v1/sessions/{session_id}/events").json()
                raise BenchError(f"session {session_id} is {body['state']} ({body.get('reason')}), not {states}; "
                                 f"events: {[e['message'] for e in events]}")
            time.sleep(0.05)

    def destroy(self, session_id: str, wait: bool = True) -> None:
        self.http.delete(f"/api/v1/sessions/{session_id}")
        if wait:
            self.wait(session_id, ("stopped", "failed"), timeout=60)


def poll_until_200(client: httpx.Client, url: str, headers: dict, timeout: float, proc=None) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.get(url, headers=headers).status_code == 200:
                return time.perf_counter()
        except httpx.HTTPError:
            pass
        if proc is not None and proc.poll() is not None:
            raise BenchError(f"jupyter lab exited with {proc.returncode}")
        time.sleep(POLL)
    raise BenchError(f"{url} did not answer 200 within {timeout:g} s")


# -- 1. launch latency ------------------------------------------------------------------------------


def launch_session(api: Api, server: Server) -> float:
    with httpx.Client(timeout=5) as poller:
        started = time.perf_counter()
        session_id = api.launch("jupyterlab", cpu=2, memory="2G")
        ready = poll_until_200(poller, f"{server.url}/datalabs/{session_id}/api/status", api.auth, 180)
    api.destroy(session_id)
    return ready - started


def launch_direct(env_path: str, tmp: Path) -> float:
    port = free_port()
    root = tmp / "jupyter-root"
    (root / "home").mkdir(parents=True, exist_ok=True)
    command = jupyterlab_command(f"{env_path}/bin", "/bench/")
    command = [f"--port={port}" if part == f"--port={APP_PORT}" else
               f"--ServerApp.root_dir={root}" if part.startswith("--ServerApp.root_dir=") else part
               for part in command]
    if os.geteuid() == 0:  # the sandbox runs it as uid 1000; bare, as root, it refuses without this flag
        command.append("--allow-root")
    env = {"HOME": str(root / "home"), "PATH": f"{env_path}/bin:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
           "VIRTUAL_ENV": env_path, "TMPDIR": str(tmp), "USER": USER}
    with (tmp / "jupyter-direct.log").open("ab") as out, httpx.Client(timeout=5) as poller:
        started = time.perf_counter()
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=root, start_new_session=True)
        try:
            ready = poll_until_200(poller, f"http://127.0.0.1:{port}/bench/api/status", {}, 180, proc)
        finally:
            stop_group(proc)
    return ready - started


def stop_group(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


# -- 2. and 3. through the proxy and direct --------------------------------------------------------


def curl_download(args: list[str], size: int) -> float:
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{speed_download} %{size_download}",
                          *args], capture_output=True, text=True)
    parts = out.stdout.split()
    if out.returncode != 0 or len(parts) != 3 or parts[0] != "200" or int(float(parts[2])) != size:
        raise BenchError(f"download failed: {out.stdout} {out.stderr}")
    return float(parts[1]) / MB


def ws_round_trips(connect, count: int, warmup: int = 100) -> list[float]:
    message = "x" * 32
    with connect() as ws:
        times = []
        for i in range(warmup + count):
            started = time.perf_counter()
            ws.send(message)
            if ws.recv(timeout=10) != message:
                raise BenchError("the echo answered something else")
            if i >= warmup:
                times.append((time.perf_counter() - started) * 1000)
    return times


# -- 4. many idle sessions ---------------------------------------------------------------------------


def session_memory(session_id: str) -> dict:
    group = Path(f"/sys/fs/cgroup/memory/datalabs/session-{session_id}")
    found = {}
    if (group / "memory.usage_in_bytes").exists():
        found["cgroup_usage"] = int((group / "memory.usage_in_bytes").read_text())
        stat = dict(line.split() for line in (group / "memory.stat").read_text().splitlines())
        found["cgroup_rss"] = int(stat.get("total_rss", stat.get("rss", 0)))
        found["cgroup_cache"] = int(stat.get("total_cache", stat.get("cache", 0)))
        pids = [int(p) for p in (group / "cgroup.procs").read_text().split()]
    else:
        pids = []
    rss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1]) * 1024
        except OSError:
            pass
    found["rss_sum"] = rss
    found["processes"] = len(pids)
    return found


def mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


# -- the run -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/sessions/run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--launch-runs", type=int, default=3, help="launches per side (default 3)")
    parser.add_argument("--concurrency", type=int, default=16, help="connections of the load client (default 16)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one load round (default 5 s)")
    parser.add_argument("--rounds", type=int, default=3, help="load rounds and downloads per side (default 3)")
    parser.add_argument("--size", type=int, default=1024, help="download size in MiB (default 1024)")
    parser.add_argument("--ws-count", type=int, default=2000, help="WebSocket round trips per side (default 2000)")
    parser.add_argument("--sessions", type=int, default=50, help="idle sessions at once (default 50)")
    parser.add_argument("--only", default="launch,proxy,ws,many", help="parts to run (default all)")
    parser.add_argument("--tmp-dir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, data)")
    args = parser.parse_args(argv)
    parts = set(args.only.split(","))

    def terminate(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)

    size = args.size * 1024**2
    parent = args.tmp_dir or Path(tempfile.gettempdir())
    tmp = Path(tempfile.mkdtemp(prefix="datalabs-bench-sessions-", dir=parent))
    load_before = os.getloadavg()[0]
    results: dict = {"benchmark": "sessions", "date": datetime.now(UTC).isoformat(timespec="seconds"),
                     "targets": TARGETS}
    server = api = None
    try:
        setup = prepare(tmp)
        server = Server(setup["data"], tmp / "server.log", per_user=max(60, args.sessions + 2))
        api = Api(server, setup["token"])
        sessions_dir = setup["data"] / "sessions"
        log(f"datalabs serve on {server.url}, data in {setup['data']}")

        if "launch" in parts:
            ours, direct = [], []
            for run in range(args.launch_runs):
                for side in (("session", "direct") if run % 2 == 0 else ("direct", "session")):
                    if side == "session":
                        ours.append(launch_session(api, server))
                        log(f"launch {run + 1}/{args.launch_runs}: session through the proxy {ours[-1]:.2f} s")
                    else:
                        direct.append(launch_direct(setup["env_path"], tmp))
                        log(f"launch {run + 1}/{args.launch_runs}: jupyter lab direct {direct[-1]:.2f} s")
            ratio = statistics.median(ours) / statistics.median(direct)
            results["launch"] = {"session_seconds": ours, "direct_seconds": direct,
                                 "session_median": statistics.median(ours), "direct_median": statistics.median(direct),
                                 "ratio": ratio, "target_met": ratio <= TARGETS["launch_ratio_max"]}

        if parts & {"proxy", "ws"}:
            log("launching the light web datalab (labserver.py) for the proxy measurements")
            session_id = api.launch("benchweb", cpu=2, memory="1G")
            api.wait(session_id)
            sock = str(sessions_dir / session_id / "http.sock")
            proxy_target = {"host": "127.0.0.1", "port": server.port}
            direct_target = {"unix": sock}
            base = f"/datalabs/{session_id}"

            if "proxy" in parts:
                for target, path, headers in ((proxy_target, f"{base}/small.txt", api.auth),
                                              (direct_target, "/small.txt", {})):  # warm-up, untimed
                    loadclient.load(target, path, concurrency=args.concurrency, seconds=1, headers=headers)
                ours, direct = [], []
                for run in range(args.rounds):
                    order = ("proxy", "direct") if run % 2 == 0 else ("direct", "proxy")
                    for side in order:
                        if side == "proxy":
                            got = loadclient.load(proxy_target, f"{base}/small.txt", concurrency=args.concurrency,
                                                  seconds=args.seconds, headers=api.auth)
                            ours.append(got)
                        else:
                            got = loadclient.load(direct_target, "/small.txt", concurrency=args.concurrency,
                                                  seconds=args.seconds)
                            direct.append(got)
                        if got["errors"] or not got["requests"]:
                            raise BenchError(f"{side}: {got['errors']} answers were not 200")
                        log(f"small requests round {run + 1}/{args.rounds}, {side}: "
                            f"{got['requests_per_second']:.0f} req/s (p50 {got['latency_p50_ms']:.2f} ms)")
                small = (statistics.median(r["requests_per_second"] for r in ours),
                         statistics.median(r["requests_per_second"] for r in direct))
                results["small_requests"] = {
                    "client": f"bench/sessions/loadclient.py, asyncio, {args.concurrency} keep-alive connections, "
                              f"{args.seconds:g} s per round, 100-byte file",
                    "proxy": ours, "direct": direct, "proxy_median_rps": small[0], "direct_median_rps": small[1],
                    "ratio": small[0] / small[1], "target_met": small[0] / small[1] >= TARGETS["small_ratio_min"]}

                log(f"writing a {args.size} MiB file into the workspace")
                write_big_file(setup["workspace"] / "big.bin", size)
                proxy_args = ["-H", f"Authorization: {api.auth['Authorization']}", f"{server.url}{base}/big.bin"]
                direct_args = ["--unix-socket", sock, "http://localhost/big.bin"]
                curl_download(direct_args, size)  # warm-up: the file in the page cache
                ours, direct = [], []
                for run in range(args.rounds):
                    for side in (("proxy", "direct") if run % 2 == 0 else ("direct", "proxy")):
                        speed = curl_download(proxy_args if side == "proxy" else direct_args, size)
                        (ours if side == "proxy" else direct).append(speed)
                        log(f"download {run + 1}/{args.rounds}, {side}: {speed:.0f} MB/s")
                ratio = statistics.median(ours) / statistics.median(direct)
                results["download"] = {"bytes": size, "client": "curl", "proxy_mb_s": ours, "direct_mb_s": direct,
                                       "proxy_median": statistics.median(ours),
                                       "direct_median": statistics.median(direct), "ratio": ratio,
                                       "target_met": ratio >= TARGETS["download_ratio_min"]}
                (setup["workspace"] / "big.bin").unlink()

            if "ws" in parts:
                ws_url = server.url.replace("http://", "ws://") + f"{base}/echo"
                proxy_ws = lambda: websockets.sync.client.connect(  # noqa: E731
                    ws_url, additional_headers=api.auth, compression=None, open_timeout=10)
                direct_ws = lambda: websockets.sync.client.unix_connect(  # noqa: E731
                    sock, "ws://localhost/echo", compression=None, open_timeout=10)
                ours, direct = [], []
                per_round = max(1, args.ws_count // 2)
                for run in range(2):
                    for side in (("proxy", "direct") if run % 2 == 0 else ("direct", "proxy")):
                        times = ws_round_trips(proxy_ws if side == "proxy" else direct_ws, per_round)
                        (ours if side == "proxy" else direct).extend(times)
                        log(f"WebSocket echo {run + 1}/2, {side}: p50 {pct(times, 0.5):.3f} ms, "
                            f"p95 {pct(times, 0.95):.3f} ms")
                figures = {"proxy_p50_ms": pct(ours, 0.5), "proxy_p95_ms": pct(ours, 0.95),
                           "direct_p50_ms": pct(direct, 0.5), "direct_p95_ms": pct(direct, 0.95)}
                figures["added_p50_ms"] = figures["proxy_p50_ms"] - figures["direct_p50_ms"]
                figures["added_p95_ms"] = figures["proxy_p95_ms"] - figures["direct_p95_ms"]
                results["websocket"] = {
                    "client": "websockets sync client, 32-byte text messages, one at a time, no compression",
                    "round_trips_per_side": len(ours), **figures,
                    "target_met": figures["added_p50_ms"] < TARGETS["ws_added_p50_ms_max"]}
            api.destroy(session_id)

        if "many" in parts:
            count = args.sessions
            log(f"{count} idle sessions of the light datalab at once")
            available_before = mem_available()
            server_rss_before = session_rss(server.proc.pid)
            started = time.perf_counter()
            ids = [api.launch("benchweb") for _ in range(count)]
            deadline = time.monotonic() + 300
            pending = set(ids)
            while pending and time.monotonic() < deadline:
                listed = {s["id"]: s for s in api.http.get("/api/v1/sessions").json()}
                for sid in list(pending):
                    state = listed.get(sid, {}).get("state")
                    if state == "running":
                        pending.discard(sid)
                    elif state in ("failed", "stopped", None):
                        raise BenchError(f"session {sid} is {state}: {api.state(sid).get('reason')}")
                time.sleep(0.2)
            all_running = time.perf_counter() - started
            if pending:
                raise BenchError(f"{len(pending)} of {count} sessions not running after 300 s")
            log(f"  all {count} running after {all_running:.1f} s")
            time.sleep(3)  # let them settle: idle means idle
            reachable = 0
            with httpx.Client(base_url=server.url, headers=api.auth, timeout=30) as http:
                for sid in ids:
                    reachable += http.get(f"/datalabs/{sid}/").status_code == 200
            memory = [session_memory(sid) for sid in ids]
            available_after = mem_available()
            server_rss_after = session_rss(server.proc.pid)
            log(f"  {reachable}/{count} answered 200 through the proxy")
            per = {key: statistics.median(m[key] for m in memory) for key in memory[0]}
            results["many_sessions"] = {
                "sessions": count, "reachable": reachable, "seconds_until_all_running": all_running,
                "median_per_session": per,
                "mem_available_drop_per_session": (available_before - available_after) / count,
                "server_rss_before": server_rss_before, "server_rss_after": server_rss_after,
                "all_reachable": reachable == count, "per_session": dict(zip(ids, memory))}
            started = time.perf_counter()
            for sid in ids:
                api.destroy(sid, wait=False)
            for sid in ids:
                api.wait(sid, ("stopped", "failed"), timeout=120)
            results["many_sessions"]["seconds_until_all_stopped"] = time.perf_counter() - started
            log(f"  all destroyed in {results['many_sessions']['seconds_until_all_stopped']:.1f} s")

        results["versions"] = versions(setup["env_path"])
        results["load_average"] = [load_before, os.getloadavg()[0]]
        report(results)
        return 0
    except (BenchError, OSError, httpx.HTTPError, websockets.WebSocketException) as exc:
        log(f"could not run: {exc!r}")
        if server is not None:
            log(f"server log:\n{tail(server.log_file)}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        if api is not None:
            try:  # whatever is left (a failure half-way): destroy it
                for left in api.http.get("/api/v1/sessions").json():
                    api.destroy(left["id"], wait=False)
                for left in api.http.get("/api/v1/sessions").json():
                    api.wait(left["id"], ("stopped", "failed"), timeout=60)
            except (httpx.HTTPError, BenchError) as error:
                log(f"cleanup: {error}")
            api.http.close()
        if server is not None:
            server.stop()
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def session_rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def socat_version() -> str:
    try:
        text = subprocess.run(["socat", "-V"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "socat ?"
    line = next((line for line in text.splitlines() if "socat version" in line), "socat ?")
    words = line.split()
    return f"socat {words[words.index('version') + 1]}" if "version" in words else "socat ?"


def versions(env_path: str) -> dict:
    def out(command):
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    return {"jupyterlab": out([f"{env_path}/bin/jupyter-lab", "--version"]),
            "bwrap": out(["bwrap", "--version"]), "socat": socat_version(),
            "curl": out(["curl", "--version"]).split(" (")[0], "python": platform.python_version(),
            "websockets": websockets.__version__, "httpx": httpx.__version__, "platform": platform.platform(),
            "cpus": os.cpu_count()}


def report(results: dict) -> None:
    lines = []
    targets = TARGETS

    def verdict(met: bool) -> str:
        return "target met" if met else "target missed"

    lines.append(f"sessions: datalab sessions (sandbox + supervisor + proxy) vs the bare app, "
                 f"{results['versions']['cpus']} CPUs")
    lines.append(f"  {'measurement':<34} {'datalabs':>12} {'baseline':>12} {'ratio':>7}  target")
    if "launch" in results:
        r = results["launch"]
        lines.append(f"  {'launch to api/status 200, s':<34} {r['session_median']:>12.2f} {r['direct_median']:>12.2f} "
                     f"{r['ratio']:>7.2f}  <= {targets['launch_ratio_max']}: {verdict(r['target_met'])}")
    if "small_requests" in results:
        r = results["small_requests"]
        lines.append(f"  {'small requests, req/s':<34} {r['proxy_median_rps']:>12.0f} {r['direct_median_rps']:>12.0f} "
                     f"{r['ratio']:>7.2f}  >= {targets['small_ratio_min']}: {verdict(r['target_met'])}")
    if "download" in results:
        r = results["download"]
        label = f"{r['bytes'] // 1024**2} MiB download, MB/s"
        lines.append(f"  {label:<34} {r['proxy_median']:>12.0f} {r['direct_median']:>12.0f} "
                     f"{r['ratio']:>7.2f}  >= {targets['download_ratio_min']}: {verdict(r['target_met'])}")
    if "websocket" in results:
        r = results["websocket"]
        lines.append(f"  {'WebSocket echo p50, ms':<34} {r['proxy_p50_ms']:>12.3f} {r['direct_p50_ms']:>12.3f} "
                     f"{'+' + format(r['added_p50_ms'], '.3f'):>7}  added < {targets['ws_added_p50_ms_max']} ms: "
                     f"{verdict(r['target_met'])}")
        lines.append(f"  {'WebSocket echo p95, ms':<34} {r['proxy_p95_ms']:>12.3f} {r['direct_p95_ms']:>12.3f} "
                     f"{'+' + format(r['added_p95_ms'], '.3f'):>7}")
    if "many_sessions" in results:
        r = results["many_sessions"]
        per = r["median_per_session"]
        lines.append(f"  {r['sessions']} idle sessions: {r['reachable']}/{r['sessions']} answered 200 through the "
                     f"proxy ({verdict(r['all_reachable'])}); all running {r['seconds_until_all_running']:.1f} s "
                     f"after the first launch call, all stopped {r.get('seconds_until_all_stopped', 0):.1f} s after "
                     "the destroy calls")
        mib = 1024**2
        lines.append(f"  memory per idle session (median): cgroup usage {per.get('cgroup_usage', 0) / mib:.1f} MiB "
                     f"(rss {per.get('cgroup_rss', 0) / mib:.1f} + cache {per.get('cgroup_cache', 0) / mib:.1f}), "
                     f"sum of process RSS {per['rss_sum'] / mib:.1f} MiB over {per['processes']:g} processes; "
                     f"MemAvailable drop {r['mem_available_drop_per_session'] / mib:.1f} MiB per session; "
                     f"server RSS {r['server_rss_before'] / mib:.0f} -> {r['server_rss_after'] / mib:.0f} MiB")
    if "small_requests" in results:
        lines.append(f"  client (small requests): {results['small_requests']['client']}; "
                     "download: curl; WebSocket: websockets sync client")
    v = results["versions"]
    lines.append(f"  versions: JupyterLab {v['jupyterlab']}; {v['bwrap']}; {v['socat']}; {v['curl']}; "
                 f"Python {v['python']}; load average {results['load_average'][0]:.2f} at start, "
                 f"{results['load_average'][1]:.2f} at end")
    lines.append(f"  written to {RESULTS_JSON.relative_to(REPO)} and {RESULTS_MD.relative_to(REPO)}")
    text = "\n".join(lines)
    print(text)
    RESULTS_JSON.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_JSON.write_text(json.dumps(results, indent=2) + "\n")
    RESULTS_MD.write_text(f"# bench/sessions, {results['date']}\n\n```\n{text}\n```\n")


if __name__ == "__main__":
    sys.exit(main())
