"""From a session row to a backend's :class:`LaunchSpec`: the command, environment and mounts.

The layout inside every datalab (ESA's, plus our workspaces under the names of the file tree)::

    /media/home                    the user's persistent home (dot files, pip --user)
    /media/my_workspace            the personal workspace (read-write)
    /media/team_workspaces/<team>  the chosen team workspaces (read-write)
    /media/data/<volume>           the chosen archive volumes (read-only)
    /media/notebooks               the datalab's own notebooks (read-only; save copies elsewhere)
    /run/datalab                   the control folder: ``datalab-status`` reports, ``platform.sock``

The session calls the platform's REST API and TAP as its user: ``DATALABS_URL`` (any host name: the
socket decides where a request goes), ``DATALABS_API_SOCKET`` (the network is closed; the local
backend bridges this socket to the platform's port) and ``DATALABS_TOKEN``, a token made for the
session and revoked when it ends (``sessions.service``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from datalabs.catalogue.models import DatalabVersion
from datalabs.execution.contract import Address, LaunchSpec, Mount
from datalabs.execution.sandbox import CONTROL_TARGET, HELPERS_TARGET, python_prefixes
from datalabs.sessions.models import LabSession
from datalabs.settings import Settings

APP_PORT = 8888  # inside the session's own network namespace, so every session may use the same
MEDIA = "/media"
DESKTOP_COMMAND = (f"{HELPERS_TARGET}/datalab-desktop",)
PLATFORM_URL = "http://datalabs"  # the host name is for show: requests go through the socket
PLATFORM_SOCKET = f"{CONTROL_TARGET}/platform.sock"
TOKEN_ENV = "DATALABS_TOKEN"


def base_url_of(session_id: str) -> str:
    return f"/datalabs/{session_id}/"


@dataclass(frozen=True)
class AppShape:
    """How the proxy talks to the app: does it know its base URL, and where is 'ready' asked."""

    strip_prefix: bool
    health_path: str


def app_shape(version_runtime: dict, kind: str) -> AppShape:
    command = version_runtime.get("command") or []
    if kind == "jupyterlab" and not command:
        return AppShape(False, "api/status")
    if kind == "desktop":
        return AppShape(True, "")
    knows_base = any("{base_url}" in part for part in command)
    health = (version_runtime.get("health_path") or "/").lstrip("/")
    return AppShape(not knows_base, health)


def jupyterlab_command(env_bin: str, base_url: str) -> list[str]:
    # No token or password: the network namespace lets only the proxy in, and the proxy lets
    # only the owner through. XSRF checks stay on.
    return [
        f"{env_bin}/jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={APP_PORT}",
        f"--ServerApp.base_url={base_url}", f"--ServerApp.root_dir={MEDIA}",
        "--ServerApp.default_url=/lab/tree/home", "--IdentityProvider.token=", "--ServerApp.password=",
        "--ServerApp.allow_remote_access=True", "--ServerApp.quit_button=False",
        "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]


def command_for(session: LabSession, version: DatalabVersion, env_path: str | None) -> list[str]:
    runtime = version.runtime or {}
    base_url = base_url_of(session.id)
    given = [part.replace("{port}", str(APP_PORT)).replace("{base_url}", base_url)
             for part in runtime.get("command") or []]
    if session.kind == "desktop":
        return [*DESKTOP_COMMAND, *given]
    if given:
        if env_path and not given[0].startswith("/") and (Path(env_path) / "bin" / given[0]).exists():
            given[0] = f"{env_path}/bin/{given[0]}"
        return given
    if env_path is None:
        raise ValueError("a JupyterLab datalab needs an environment")
    return jupyterlab_command(f"{env_path}/bin", base_url)


def platform_address(settings: Settings) -> Address:
    """Where this server listens, as a client on this host connects to it (a wildcard means loopback)."""
    host = settings.host.strip("[]")
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return Address(host=host, port=settings.port)


def build_spec(session: LabSession, version: DatalabVersion, settings: Settings, *, env_path: str | None,
               personal: str, teams: dict[str, str], volumes: dict[str, str],
               token: str | None = None) -> LaunchSpec:
    run_dir = settings.sessions_dir / session.id
    home = settings.homes_dir / session.user.name
    home.mkdir(parents=True, exist_ok=True)
    mounts = [Mount(str(home), f"{MEDIA}/home", writable=True),
              Mount(personal, f"{MEDIA}/my_workspace", writable=True)]
    mounts += [Mount(path, f"{MEDIA}/team_workspaces/{name}", writable=True) for name, path in sorted(teams.items())]
    mounts += [Mount(path, f"{MEDIA}/data/{name}") for name, path in sorted(volumes.items())]
    if version.package_path and Path(version.package_path).is_dir():
        notebooks = Path(version.package_path) / "notebooks"  # the package's notebooks folder, else the package
        mounts.append(Mount(str(notebooks if notebooks.is_dir() else version.package_path), f"{MEDIA}/notebooks"))
    if env_path:
        mounts.append(Mount(env_path, env_path))
    path = ":".join(([f"{env_path}/bin"] if env_path else []) + [HELPERS_TARGET, "/usr/local/bin", "/usr/bin", "/bin"])
    user = session.user.name
    env = {
        "HOME": f"{MEDIA}/home", "USER": user, "LOGNAME": user, "PATH": path, "LANG": "C.UTF-8",
        "SHELL": "/bin/bash", "TERM": "xterm-256color", "TMPDIR": "/tmp",
        "MAIN_PORT": str(APP_PORT), "IF_main_port": str(APP_PORT),
        "MAIN_ID": session.id, "IF_main_id": session.id, "DATALAB_ID": session.id,
        "DATALAB_NAME": session.datalab_name, "DATALAB_VERSION": session.version,
        "DATALAB_BASE_URL": base_url_of(session.id), "DATALAB_CONTROL_DIR": CONTROL_TARGET,
        "DATALABS_URL": PLATFORM_URL, "DATALABS_API_SOCKET": PLATFORM_SOCKET,
        # Java cannot see the cgroup from inside the sandbox: tell it the memory it has (TOPCAT, Aladin)
        "JAVA_TOOL_OPTIONS": f"-XX:MaxRAM={session.memory}",
    }
    if env_path:
        env["VIRTUAL_ENV"] = env_path
    if token:
        env[TOKEN_ENV] = token
    return LaunchSpec(
        session_id=session.id, user=user, command=tuple(command_for(session, version, env_path)), env=env,
        cpu=session.cpu, memory=session.memory, mounts=tuple(mounts), workdir=f"{MEDIA}/home",
        run_dir=str(run_dir), port=APP_PORT, python_prefixes=python_prefixes(),
        platform=platform_address(settings), secret_env=frozenset({TOKEN_ENV}),
    )
