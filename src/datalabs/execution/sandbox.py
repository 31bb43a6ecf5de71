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
import sys
import threading
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


def python_prefixes() -> tuple[str, ...]:
    """The interpreter environments are made from (a venv links to it); /usr is mounted anyway."""
    prefix = os.path.realpath(sys.base_prefix)
    return () if prefix.startswith("/usr") else (prefix,)


def bwrap_binary() -> str | None:
    return shutil.which("bwrap")


def _own_etc_files(run_dir: Path, user: str) -> list[str]:
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
    return args


def _etc_files(run_dir: Path, user: str, etc_tree: Path | None = None) -> list[str]:
    """/etc inside: the allow-list, bound entry by entry, or (faster to set up: one mount instead of
    thirty) as a prepared copy ``etc_tree`` made by :func:`prepare_etc_tree`."""
    if etc_tree is not None:
        return ["--ro-bind", str(etc_tree), "/etc", *_own_etc_files(run_dir, user)]
    args = _own_etc_files(run_dir, user)
    for name in ETC_ALLOWED:
        path = Path("/etc") / name
        if path.exists():
            args += ["--ro-bind", str(path), str(path)]
    return args


def prepare_etc_tree(tree: Path) -> Path:
    """A copy of the allow-listed ``/etc`` entries (links kept as links), made once and shared; it is
    replaced atomically, so concurrent makers never see half of one."""
    if tree.is_dir():
        return tree
    staging = tree.with_name(f"{tree.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in ETC_ALLOWED:
        source = Path("/etc") / name
        target = staging / name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            if source.is_dir():
                shutil.copytree(source, target, symlinks=True)
            elif source.exists():
                shutil.copy2(source, target)
        except OSError:
            continue  # unreadable on this host: the sandbox goes without it, as with the binds
    for name in ("passwd", "group", "hostname"):
        (staging / name).touch()  # mount points for the run's own files
    try:
        staging.rename(tree)
    except OSError:  # another process made it first
        shutil.rmtree(staging, ignore_errors=True)
    return tree


def bwrap_base(run_dir: Path, user: str, python_prefixes: tuple[str, ...] | list[str] = (),
               etc_tree: Path | None = None) -> list[str]:
    """What every sandbox has, sessions and pipeline steps alike: namespaces, a read-only system, private
    ``/tmp``, our ``/etc``, and the environment's Python; the caller adds the mounts and the command."""
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
    args += _etc_files(Path(run_dir), user, etc_tree)
    for prefix in python_prefixes:
        args += ["--ro-bind", prefix, prefix]
    return args


def bwrap_command(spec: LaunchSpec, control_dir: Path) -> list[str]:
    args = bwrap_base(Path(spec.run_dir), spec.user, spec.python_prefixes)
    args += ["--ro-bind", str(HELPERS_DIR), HELPERS_TARGET, "--bind", str(control_dir), CONTROL_TARGET]
    for mount in sorted(spec.mounts, key=lambda m: m.target.count("/")):
        args += ["--bind" if mount.writable else "--ro-bind", mount.source, mount.target]
    args += ["--chdir", spec.workdir, "--clearenv"]
    for key, value in sorted(spec.env.items()):
        args += ["--setenv", key, value]
    return args + ["--", *spec.command]
