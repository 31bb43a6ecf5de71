"""The bubblewrap command line of a session: what it sees, and nothing more.

Inside: the system's ``/usr`` (read-only), a short allow-list of ``/etc`` (no ``shadow``, no
keys, no service configuration), the environment's Python, the mounts of the launch (archive
volumes read-only, workspaces read-write), a private ``/tmp``, its own PID, IPC, UTS and
network namespaces, no capabilities, and a user namespace in which the session's user is
uid 1000 with the platform user's name. The network namespace holds only loopback: the app is
reached through a Unix socket bridged in from outside (see ``local.py``), never directly, so no
session can connect to another one or to the platform's internal services.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from datalabs.execution.contract import LaunchSpec

HELPERS_DIR = Path(__file__).parent / "bin"
HELPERS_TARGET = "/opt/datalabs/bin"
CONTROL_TARGET = "/run/datalab"
SESSION_UID = 1000

# /etc entries programs need (name resolution, TLS roots, fonts, Java, X, locales): nothing secret.
ETC_ALLOWED = (
    "alternatives", "ca-certificates", "ca-certificates.conf", "fonts", "host.conf", "hosts", "java-17-openjdk",
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "locale.alias", "localtime", "mime.types", "nsswitch.conf",
    "protocols", "resolv.conf", "services", "ssl/certs", "ssl/openssl.cnf", "timezone", "X11", "xdg",
    "ImageMagick-6", "gtk-3.0", "matplotlibrc", "python3", "python3.11", "profile",
)


def bwrap_binary() -> str | None:
    return shutil.which("bwrap")


def _etc_files(run_dir: Path, user: str) -> list[str]:
    """Our own passwd/group/hostname: the session's user exists by name, nobody else does."""
    etc = run_dir / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "passwd").write_text(f"{user}:x:{SESSION_UID}:{SESSION_UID}:{user}:/media/home:/bin/bash\n"
                                "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    (etc / "group").write_text(f"{user}:x:{SESSION_UID}:\nnogroup:x:65534:\n")
    (etc / "hostname").write_text("datalab\n")
    args = []
    for name in ("passwd", "group", "hostname"):
        args += ["--ro-bind", str(etc / name), f"/etc/{name}"]
    for name in ETC_ALLOWED:
        path = Path("/etc") / name
        if path.exists():
            args += ["--ro-bind", str(path), str(path)]
    return args


def bwrap_command(spec: LaunchSpec, control_dir: Path) -> list[str]:
    binary = bwrap_binary()
    if binary is None:
        raise FileNotFoundError("bwrap")
    args = [
        binary,
        "--unshare-user", "--uid", str(SESSION_UID), "--gid", str(SESSION_UID),
        "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--hostname", "datalab",
        "--die-with-parent", "--new-session", "--cap-drop", "ALL",
        "--ro-bind", "/usr", "/usr",
    ]
    for link in ("bin", "lib", "lib64", "sbin"):
        target = os.readlink(f"/{link}") if os.path.islink(f"/{link}") else None
        if target is not None:
            args += ["--symlink", target, f"/{link}"]
        elif os.path.isdir(f"/{link}"):
            args += ["--ro-bind", f"/{link}", f"/{link}"]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/dev/shm", "--tmpfs", "/tmp", "--tmpfs", "/var/tmp",
             "--tmpfs", "/run", "--dir", "/var", "--tmpfs", "/media"]
    args += _etc_files(Path(spec.run_dir), spec.user)
    for prefix in spec.python_prefixes:
        args += ["--ro-bind", prefix, prefix]
    args += ["--ro-bind", str(HELPERS_DIR), HELPERS_TARGET, "--bind", str(control_dir), CONTROL_TARGET]
    for mount in sorted(spec.mounts, key=lambda m: m.target.count("/")):
        args += ["--bind" if mount.writable else "--ro-bind", mount.source, mount.target]
    args += ["--chdir", spec.workdir, "--clearenv"]
    for key, value in sorted(spec.env.items()):
        args += ["--setenv", key, value]
    return args + ["--", *spec.command]
