"""File-transfer benchmark: datalabs against nginx, side by side on loopback.

The same file is uploaded to datalabs (``PUT /api/v1/content/my_workspace/big.bin``) and to nginx
(WebDAV ``PUT``), then downloaded from datalabs (``GET /api/v1/content/...``) and from nginx, which
serves the very file datalabs stored (its ``location`` points at the user's workspace folder).
Both sides are measured by the same client (curl), N times each, alternating, and the median
speeds and the ratios datalabs/nginx are printed and written to ``bench/results/files.json``.

Run it through ``bench/files/run``, which installs nginx and curl when missing. Exit status is
non-zero only when the benchmark could not run, never because a target was missed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results" / "files.json"
DATALABS = REPO / ".venv" / "bin" / "datalabs"
MB = 1_000_000  # MB/s means 10^6 bytes per second throughout
TARGET_DOWNLOAD_RATIO = 0.5
USER = "bench"
REMOTE_PATH = "my_workspace/big.bin"
CURL_FORMAT = "%{http_code} %{speed_download} %{speed_upload} %{time_total} %{size_download} %{size_upload}"


class BenchError(Exception):
    """The benchmark could not run (as opposed to: it ran and was slow)."""


def parse_size(text: str) -> int:
    units = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", text, re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (write e.g. 1G, 256M or a number of bytes)")
    size = int(float(match.group(1)) * units[match.group(2).upper()])
    if size < 4096:
        raise argparse.ArgumentTypeError("the file must be at least 4096 bytes")
    return size


def human(size: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor:
            return f"{size / factor:g} {unit}"
    return f"{size} B"


def log(message: str) -> None:
    print(f"[bench/files] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, what: str, log_file: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{what} exited with status {proc.returncode}:\n{tail(log_file)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise BenchError(f"{what} did not listen on port {port} within {timeout:.0f} s:\n{tail(log_file)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


class Processes:
    """Started servers, each in its own process group, all stopped by ``stop_all`` whatever happens."""

    def __init__(self) -> None:
        self.running: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], log_file: Path, env: dict | None = None) -> subprocess.Popen:
        with open(log_file, "ab") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    env=env, start_new_session=True)
        self.running.append((name, proc))
        return proc

    def stop_all(self) -> None:
        for name, proc in reversed(self.running):
            if proc.poll() is None:
                _signal_group(proc, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    log(f"{name} did not stop on SIGTERM: killing it")
            _signal_group(proc, signal.SIGKILL)  # whatever is left in its group (workers, threads' children)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:  # pragma: no cover - a process that survives SIGKILL
                log(f"{name} (pid {proc.pid}) could not be stopped")
        self.running.clear()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # start_new_session made the pid the process group id
    except ProcessLookupError:
        pass


# -- the test file --------------------------------------------------------------------------

def make_file(path: Path, size: int) -> str:
    """Random bytes (incompressible, so no layer can cheat); returns the sha256."""
    digest = hashlib.sha256()
    block = 4 * 1024 * 1024
    with open(path, "wb") as out:
        remaining = size
        while remaining:
            data = os.urandom(min(block, remaining))
            digest.update(data)
            out.write(data)
            remaining -= len(data)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


# -- the two servers ------------------------------------------------------------------------

NGINX_CONF = """\
# Generated by bench/files for one run; a plain static site plus a WebDAV PUT location.
{user_line}
worker_processes auto;
daemon off;
pid {tmp}/nginx/nginx.pid;
error_log {tmp}/nginx/error.log warn;

events {{
    worker_connections 1024;
}}

http {{
    default_type application/octet-stream;
    access_log {tmp}/nginx/access.log;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    client_body_temp_path {tmp}/nginx/body;
    proxy_temp_path {tmp}/nginx/proxy;
    fastcgi_temp_path {tmp}/nginx/fastcgi;
    uwsgi_temp_path {tmp}/nginx/uwsgi;
    scgi_temp_path {tmp}/nginx/scgi;

    server {{
        listen 127.0.0.1:{port};
        server_name localhost;

        # Downloads: the very file datalabs stored in the user's workspace.
        location /files/ {{
            alias {workspace}/;
        }}

        # Uploads: WebDAV PUT, body spooled to a temp file on the same disk, then renamed into place.
        location /upload/ {{
            alias {tmp}/nginx/uploads/;
            dav_methods PUT;
            client_max_body_size 0;
            client_body_temp_path {tmp}/nginx/body;
        }}
    }}
}}
"""


def start_nginx(procs: Processes, nginx: str, tmp: Path, workspace: Path) -> int:
    home = tmp / "nginx"
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi", "uploads"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    port = free_port()
    # As root, nginx would switch its workers to "nobody", who cannot read the private temp dir.
    user_line = "user root;" if os.geteuid() == 0 else "# not root: workers run as the invoking user"
    conf = home / "nginx.conf"
    conf.write_text(NGINX_CONF.format(user_line=user_line, tmp=tmp, port=port, workspace=workspace))
    argv = [nginx, "-p", str(home), "-e", str(home / "error.log"), "-c", str(conf)]
    check = subprocess.run(argv + ["-t", "-q"], capture_output=True, text=True)
    if check.returncode != 0:
        raise BenchError(f"nginx rejected its generated config:\n{check.stderr}")
    proc = procs.start("nginx", argv, home / "stdout.log")
    wait_for_port(port, proc, "nginx", home / "error.log")
    return port


def datalabs_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATALABS_")}
    env.update(DATALABS_USER_QUOTA="100G", DATALABS_LOG_LEVEL="warning")
    return env


def run_datalabs(args: list[str], env: dict) -> str:
    result = subprocess.run([str(DATALABS), *args], capture_output=True, text=True, env=env,
                            stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise BenchError(f"datalabs {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def start_datalabs(procs: Processes, tmp: Path) -> tuple[int, str, Path]:
    """Returns the port, an API token of the bench user, and the user's workspace folder."""
    data_dir = tmp / "datalabs"
    env = datalabs_env()
    run_datalabs(["user", "add", USER, "--data-dir", str(data_dir)], env)
    token = json.loads(run_datalabs(["token", "create", USER, "--data-dir", str(data_dir), "--json"], env))["token"]
    port = free_port()
    log_file = tmp / "datalabs.log"
    proc = procs.start("datalabs", [str(DATALABS), "serve", "--port", str(port), "--data-dir", str(data_dir)],
                       log_file, env=env)
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through $http_proxy
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise BenchError(f"datalabs serve exited with status {proc.returncode}:\n{tail(log_file)}")
        try:
            with direct.open(f"http://127.0.0.1:{port}/api/v1/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise BenchError(f"datalabs did not answer /api/v1/health within 60 s:\n{tail(log_file)}")
        time.sleep(0.2)
    return port, token, data_dir / "workspaces" / "users" / USER


# -- measuring --------------------------------------------------------------------------------

def curl(args: list[str], what: str) -> dict:
    argv = ["curl", "-s", "-S", "--noproxy", "*", "-o", "/dev/null", "-w", CURL_FORMAT, *args]
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise BenchError(f"{what}: curl failed ({result.returncode}): {result.stderr.strip()}")
    code, down, up, total, size_down, size_up = result.stdout.split()
    if not code.startswith("2"):
        raise BenchError(f"{what}: HTTP {code}")
    return {"http_code": int(code), "speed_download": float(down), "speed_upload": float(up),
            "time_total": float(total), "size_download": int(size_down), "size_upload": int(size_up)}


class Sides:
    def __init__(self, datalabs_port: int, token: str, nginx_port: int, nginx_copy: Path, size: int) -> None:
        self.size = size
        self.auth = ["-H", f"Authorization: Bearer {token}"]
        self.datalabs_url = f"http://127.0.0.1:{datalabs_port}/api/v1/content/{REMOTE_PATH}"
        self.datalabs_files_url = f"http://127.0.0.1:{datalabs_port}/api/v1/files/{REMOTE_PATH}"
        self.nginx_copy = nginx_copy
        self.nginx_download_url = f"http://127.0.0.1:{nginx_port}/files/big.bin"
        self.nginx_upload_url = f"http://127.0.0.1:{nginx_port}/upload/big.bin"

    def upload(self, side: str, source: Path) -> dict:
        # Untimed preparation: remove the previous copy (freeing 1 GiB of extents is not part of an
        # upload) and flush dirty pages, so each upload starts from the same clean state.
        if side == "datalabs":
            args = [*self.auth, "-T", str(source), f"{self.datalabs_url}?overwrite=true"]
            self.delete_datalabs_copy()
        else:
            args = ["-T", str(source), self.nginx_upload_url]
            self.nginx_copy.unlink(missing_ok=True)
        os.sync()
        measured = curl(args, f"{side} upload")
        if measured["size_upload"] != self.size:
            raise BenchError(f"{side} upload sent {measured['size_upload']} bytes, not {self.size}")
        return {"mb_s": measured["speed_upload"] / MB, "seconds": measured["time_total"]}

    def delete_datalabs_copy(self) -> None:
        result = subprocess.run(["curl", "-s", "-S", "--noproxy", "*", "-o", "/dev/null", "-w", "%{http_code}",
                                 "-X", "DELETE", *self.auth, self.datalabs_files_url], capture_output=True, text=True)
        if result.returncode != 0 or result.stdout not in ("204", "404"):
            raise BenchError(f"deleting the datalabs copy failed: HTTP {result.stdout} {result.stderr.strip()}")

    def download(self, side: str) -> dict:
        args = [*self.auth, self.datalabs_url] if side == "datalabs" else [self.nginx_download_url]
        measured = curl(args, f"{side} download")
        if measured["size_download"] != self.size:
            raise BenchError(f"{side} download received {measured['size_download']} bytes, not {self.size}")
        return {"mb_s": measured["speed_download"] / MB, "seconds": measured["time_total"]}

    def fetch(self, url: str, extra: list[str]) -> tuple[str, int, bytes]:
        """sha256, length and first 4 KiB of a body fetched by curl (streamed, never held in memory)."""
        proc = subprocess.Popen(["curl", "-s", "-S", "--fail", "--noproxy", "*", *extra, url],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        digest, length, head = hashlib.sha256(), 0, b""
        while chunk := proc.stdout.read(1024 * 1024):
            digest.update(chunk)
            length += len(chunk)
            if len(head) < 4096:
                head += chunk[: 4096 - len(head)]
        if proc.wait() != 0:
            raise BenchError(f"fetching {url} failed: {proc.stderr.read().decode().strip()}")
        return digest.hexdigest(), length, head


def alternate(runs: int, measure) -> dict[str, list[dict]]:
    """Run ``measure(side)`` ``runs`` times per side, alternating, swapping who goes first each round."""
    results: dict[str, list[dict]] = {"datalabs": [], "nginx": []}
    for index in range(runs):
        order = ("datalabs", "nginx") if index % 2 == 0 else ("nginx", "datalabs")
        for side in order:
            results[side].append(measure(side))
            log(f"  run {index + 1}/{runs} {side:8s} {results[side][-1]['mb_s']:9.1f} MB/s "
                f"({results[side][-1]['seconds']:.2f} s)")
    return results


def summarise(results: dict[str, list[dict]]) -> dict:
    datalabs = statistics.median(r["mb_s"] for r in results["datalabs"])
    nginx = statistics.median(r["mb_s"] for r in results["nginx"])
    return {"datalabs_mb_s": round(datalabs, 1), "nginx_mb_s": round(nginx, 1),
            "ratio": round(datalabs / nginx, 3) if nginx else None, "runs": results}


def verify(sides: Sides, source: Path, source_sha: str, size: int, nginx_copy: Path) -> dict:
    digest, length, _ = sides.fetch(sides.datalabs_url, sides.auth)
    if length != size or digest != source_sha:
        raise BenchError(f"datalabs download differs from the file: {length} bytes, sha256 {digest}, "
                         f"expected {size} bytes, sha256 {source_sha}")
    with open(source, "rb") as handle:
        handle.seek(1000)
        expected = handle.read(1000)
    _, length, head = sides.fetch(sides.datalabs_url, [*sides.auth, "-r", "1000-1999"])
    if length != 1000 or head[:1000] != expected:
        raise BenchError(f"datalabs Range 1000-1999 returned {length} bytes that do not match the file")
    if nginx_copy.stat().st_size != size:
        raise BenchError(f"nginx stored {nginx_copy.stat().st_size} bytes, not {size}")
    return {"datalabs_download_sha256_ok": True, "datalabs_range_1000_1999_ok": True, "nginx_upload_size_ok": True}


# -- reporting --------------------------------------------------------------------------------

def versions(nginx: str) -> dict:
    def first_line(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True)
        except OSError:
            return "?"
        return ((out.stdout or out.stderr).strip().splitlines() or ["?"])[0]

    from importlib.metadata import PackageNotFoundError, version

    packages = {}
    for name in ("datalabs", "uvicorn", "starlette", "anyio", "httptools", "uvloop", "h11"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    return {"nginx": first_line([nginx, "-v"]), "curl": first_line(["curl", "--version"]),
            "python": platform.python_version(), "kernel": platform.release(), "cpus": os.cpu_count(),
            "packages": packages}


def print_table(result: dict) -> None:
    size, runs = result["size_bytes"], result["runs"]
    down, up = result["download"], result["upload"]
    print()
    print(f"files: datalabs vs nginx on loopback, {human(size)} ({size} bytes), median of {runs} runs each, "
          f"client curl; MB/s = 10^6 bytes/s")
    print(f"  {'':10s} {'datalabs MB/s':>14s} {'nginx MB/s':>11s} {'ratio':>7s}  target")
    verdict = "target met" if result["target"]["met"] else "target missed"
    print(f"  {'download':10s} {down['datalabs_mb_s']:14.1f} {down['nginx_mb_s']:11.1f} {down['ratio']:7.3f}  "
          f">= {TARGET_DOWNLOAD_RATIO}: {verdict}")
    print(f"  {'upload':10s} {up['datalabs_mb_s']:14.1f} {up['nginx_mb_s']:11.1f} {up['ratio']:7.3f}  "
          f"(none; datalabs fsyncs before answering, nginx does not)")
    checks = ", ".join(k for k, v in result["checks"].items() if v)
    print(f"  checks passed: {checks}")
    load = result["load_average_1min"]
    print(f"  {result['versions']['nginx']}; {result['versions']['curl'].split(' (')[0]}; "
          f"{result['versions']['cpus']} CPUs; load average {load['start']} at start, {load['end']} at end")
    print(f"  written to {RESULTS.relative_to(REPO)}")


# -- main -------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/files/run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=parse_size("1G"),
                        help="size of the test file, e.g. 1G, 256M (binary units; default 1G)")
    parser.add_argument("--runs", type=int, default=3, help="measurements per side and direction (default 3)")
    parser.add_argument("--tmp-dir", type=Path, default=None,
                        help="where the temporary folder is made (default: $TMPDIR or /tmp); it needs "
                        "about 4.5 times --size free")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, configs)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    nginx = os.environ.get("BENCH_NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"
    for tool in ("curl", nginx, str(DATALABS)):
        if not shutil.which(tool):
            log(f"missing {tool}: run bench/files/run, which installs what is needed")
            return 2

    def terminate(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)

    parent = args.tmp_dir or Path(tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    needed = int(args.size * 4.5) + 256 * 1024**2
    if shutil.disk_usage(parent).free < needed:
        log(f"not enough room in {parent}: {human(needed)} needed, {human(shutil.disk_usage(parent).free)} free")
        return 2
    load_before = os.getloadavg()[0]
    if load_before > 0.5 * (os.cpu_count() or 1):
        log(f"warning: the machine is busy (load average {load_before:.2f}): figures will be noisy")
    tmp = Path(tempfile.mkdtemp(prefix="datalabs-bench-files-", dir=parent))
    procs = Processes()
    try:
        (tmp / "source").mkdir()
        source = tmp / "source" / "big.bin"
        log(f"writing a {human(args.size)} file of random bytes in {tmp}")
        source_sha = make_file(source, args.size)
        datalabs_port, token, workspace = start_datalabs(procs, tmp)
        nginx_port = start_nginx(procs, nginx, tmp, workspace)
        log(f"datalabs on 127.0.0.1:{datalabs_port}, nginx on 127.0.0.1:{nginx_port}")
        nginx_copy = tmp / "nginx" / "uploads" / "big.bin"
        sides = Sides(datalabs_port, token, nginx_port, nginx_copy, args.size)

        log(f"upload, {args.runs} runs per side")
        uploads = alternate(args.runs, lambda side: sides.upload(side, source))
        log("checking a datalabs download (sha256) and a Range request")
        checks = verify(sides, source, source_sha, args.size, nginx_copy)
        sides.download("nginx")  # warm-up: nginx has not served this file yet (datalabs just has)
        log(f"download, {args.runs} runs per side")
        downloads = alternate(args.runs, sides.download)

        download, upload = summarise(downloads), summarise(uploads)
        result = {
            "benchmark": "files",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "size_bytes": args.size,
            "runs": args.runs,
            "unit": "MB/s, MB = 10^6 bytes; medians; measured by curl (speed_download / speed_upload)",
            "download": download,
            "upload": upload,
            "target": {"download_ratio_min": TARGET_DOWNLOAD_RATIO,
                       "met": download["ratio"] is not None and download["ratio"] >= TARGET_DOWNLOAD_RATIO},
            "notes": "nginx serves the file datalabs stored (sendfile on). Uploads: datalabs fsyncs "
                     "the file before answering, nginx does not; before every upload (untimed) the "
                     "previous copy is deleted and os.sync() flushes dirty pages.",
            "checks": checks,
            "load_average_1min": {"start": round(load_before, 2), "end": round(os.getloadavg()[0], 2)},
            "versions": versions(nginx),
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        print_table(result)
        return 0
    except BenchError as exc:
        log(f"failed: {exc}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        procs.stop_all()
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
