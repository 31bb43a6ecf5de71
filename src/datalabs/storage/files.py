"""The file tree a user sees, and the operations on it.

Paths are virtual, and are the same that a datalab session will see under its mounts::

    my_workspace/...                 the caller's personal workspace (read-write)
    team_workspaces/<team>/...       a workspace of a team the caller belongs to (read-write)
    data/<volume>/...                an archive volume the caller may read (read-only)

Anything the caller may not see is reported exactly as if it did not exist.
Uploads stream into a hidden temporary file next to the workspaces and are renamed into place
only when complete and within quota, so an interrupted or refused upload leaves nothing behind.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import anyio

from datalabs.accounts.actor import Actor
from datalabs.accounts.repository import AccountRepository
from datalabs.errors import (
    AlreadyExists,
    Conflict,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
)
from datalabs.settings import Settings
from datalabs.sizes import format_size
from datalabs.storage.beneath import Beneath, Entry
from datalabs.storage.datasets import DatasetService
from datalabs.storage.safepath import check_name, parse_parts

MY_WORKSPACE = "my_workspace"
TEAM_WORKSPACES = "team_workspaces"
VOLUMES = "data"
UPLOAD_PREFIX = ".upload-"
STALE_UPLOAD_SECONDS = 3600
_PLACING_LOCK = threading.Lock()
WRITE_BUFFER = 1024 * 1024
EPOCH = datetime.fromtimestamp(0, UTC)


@dataclass(frozen=True)
class Root:
    """A workspace or volume: where it is on disk and what the caller may do there."""

    kind: str  # "personal", "team" or "volume"
    shown_as: str
    host_path: str
    writable: bool
    quota: int | None
    upload_key: str

    def beneath(self) -> Beneath:
        return Beneath(self.host_path, shown_as=self.shown_as, follow_inside_symlinks=self.kind == "volume")


@dataclass(frozen=True)
class Located:
    """A virtual path: either a place above the roots (``root`` None) or a path inside a root."""

    path: str
    root: Root | None
    parts: list[str]


@dataclass(frozen=True)
class WorkspaceInfo:
    path: str
    kind: str
    used: int
    quota: int | None


class FileService:
    def __init__(self, db, settings: Settings, datasets: DatasetService | None = None) -> None:
        self.db = db
        self.settings = settings
        self.accounts = AccountRepository(db)
        self.datasets = datasets or DatasetService(db)

    # -- where things are -----------------------------------------------------------------

    def locate(self, actor: Actor | None, path: str) -> Located:
        parts = parse_parts(path)
        clean = "/".join(parts)
        if not parts:
            return Located(clean, None, [])
        top = parts[0]
        if top == MY_WORKSPACE:
            return Located(clean, self.personal_root(_logged_in(actor)), parts[1:])
        if top == TEAM_WORKSPACES:
            if len(parts) == 1:
                _logged_in(actor)
                return Located(clean, None, [])
            return Located(clean, self.team_root(_logged_in(actor), parts[1]), parts[2:])
        if top == VOLUMES:
            if len(parts) == 1:
                return Located(clean, None, [])
            return Located(clean, self.volume_root(actor, parts[1]), parts[2:])
        raise NotFound(
            f"no such file or folder: {clean} (paths start with {MY_WORKSPACE}/, {TEAM_WORKSPACES}/ or {VOLUMES}/)",
            field="path",
        )

    def personal_root(self, actor: Actor) -> Root:
        user = self.accounts.user_by_id(actor.user_id)
        quota = user.quota_bytes if user and user.quota_bytes is not None else self.settings.user_quota
        host = self._workspace_dir("users", actor.name)
        return Root("personal", MY_WORKSPACE, host, True, quota, f"u-{actor.name}")

    def team_root(self, actor: Actor, team_name: str) -> Root:
        if not actor.in_team(team_name):
            raise NotFound(f"no such file or folder: {TEAM_WORKSPACES}/{team_name}", field="path")
        team = self.accounts.team_by_name(team_name)
        if team is None:  # pragma: no cover - membership implies the team exists
            raise NotFound(f"no such file or folder: {TEAM_WORKSPACES}/{team_name}", field="path")
        quota = team.quota_bytes if team.quota_bytes is not None else self.settings.team_quota
        host = self._workspace_dir("teams", team_name)
        return Root("team", f"{TEAM_WORKSPACES}/{team_name}", host, True, quota, f"t-{team_name}")

    def volume_root(self, actor: Actor | None, name: str) -> Root:
        try:
            dataset = self.datasets.get(name, actor)
        except NotFound:
            raise NotFound(f"no such file or folder: {VOLUMES}/{name}", field="path") from None
        return Root("volume", f"{VOLUMES}/{name}", dataset.path, False, None, "")

    def workspaces(self, actor: Actor) -> list[WorkspaceInfo]:
        roots = [self.personal_root(actor)] + [self.team_root(actor, team) for team in sorted(actor.teams)]
        return [WorkspaceInfo(r.shown_as, r.kind, self.usage(r), r.quota) for r in roots]

    # -- reading --------------------------------------------------------------------------

    def stat(self, actor: Actor | None, path: str) -> Entry:
        place = self.locate(actor, path)
        if place.root is None:
            return Entry(place.path.rsplit("/", 1)[-1] or "/", "directory", 0, EPOCH)
        return place.root.beneath().stat(place.parts)

    def list(self, actor: Actor | None, path: str) -> list[Entry]:
        place = self.locate(actor, path)
        if place.root is None:
            return self._virtual_listing(actor, place.path)
        entries = place.root.beneath().list(place.parts)
        if place.root.kind != "volume" and not place.parts:
            entries = [e for e in entries if not e.name.startswith(UPLOAD_PREFIX)]
        return entries

    def open_file(self, actor: Actor | None, path: str) -> tuple[int, os.stat_result, str]:
        place = self.locate(actor, path)
        if place.root is None:
            raise InvalidInput(f"{place.path or '/'} is a folder, not a file", code="is_a_directory")
        fd, st = place.root.beneath().open_file(place.parts)
        self.db.rollback()  # end the read transaction: a long transfer holds no database connection
        return fd, st, place.parts[-1]

    def usage(self, root: Root) -> int:
        used = root.beneath().usage()
        for item in self._uploads_in_progress(root):
            try:
                used += item.stat().st_size
            except FileNotFoundError:  # that upload just finished or failed
                continue
        return used

    # -- writing --------------------------------------------------------------------------

    def mkdir(self, actor: Actor | None, path: str, *, parents: bool = False) -> Entry:
        place = self._writable(actor, path)
        return place.root.beneath().mkdir(place.parts, parents=parents)

    def delete(self, actor: Actor | None, path: str, *, recursive: bool = False) -> None:
        place = self._writable(actor, path)
        place.root.beneath().delete(place.parts, recursive=recursive)

    def move(self, actor: Actor | None, path: str, destination: str) -> Entry:
        source = self._writable(actor, path)
        target = self._writable(actor, destination)
        if not source.parts or not target.parts:
            raise PermissionDenied("workspaces themselves cannot be moved or replaced")
        if source.root.upload_key != target.root.upload_key:
            entry = source.root.beneath().stat(source.parts)
            size = entry.size if entry.type != "directory" else _tree_size(source.root, source.parts)
            self._check_room(target.root, size, replacing=0)
        return source.root.beneath().move_to(source.parts, target.root.beneath(), target.parts)

    async def upload(self, actor: Actor | None, path: str, body: AsyncIterator[bytes], *,
                     length: int | None = None, overwrite: bool = False, parents: bool = False) -> Entry:
        """Stream ``body`` into ``path``. Nothing appears at ``path`` unless the upload completes."""
        place = await anyio.to_thread.run_sync(self._writable, actor, path)
        if not place.parts:
            raise PermissionDenied(f"{place.path} is a workspace; upload into it, e.g. {place.path}/file.txt")
        root, parts = place.root, place.parts
        beneath = root.beneath()
        replacing = await anyio.to_thread.run_sync(self._existing_size, beneath, parts, overwrite, parents)
        room = await anyio.to_thread.run_sync(self._room, root, replacing)
        if length is not None and length > room:
            raise _quota_error(root, length, room)
        uploads = self._uploads_dir()
        temp_name = f"{UPLOAD_PREFIX}{root.upload_key}-{secrets.token_hex(8)}"
        fd = os.open(uploads / temp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            received, tail = await _receive_into(fd, body, room, lambda size: _quota_error(root, size, room))
            if length is not None and received != length:
                raise InvalidInput(f"upload incomplete: received {received} of {length} bytes", code="incomplete_upload")
            await anyio.to_thread.run_sync(_finish, fd, tail)
            os.close(fd)
            fd = -1
            return await anyio.to_thread.run_sync(self._place_upload, root, parts, temp_name, overwrite, parents)
        finally:
            if fd >= 0:
                os.close(fd)
            try:
                os.unlink(uploads / temp_name)
            except FileNotFoundError:
                pass

    # -- internals ------------------------------------------------------------------------

    def _writable(self, actor: Actor | None, path: str) -> Located:
        place = self.locate(actor, path)
        if place.root is None:
            raise PermissionDenied(f"{place.path or '/'} is not a workspace: nothing can be written here")
        if not place.root.writable:
            raise PermissionDenied(f"{place.root.shown_as} is a read-only archive volume", code="read_only")
        return place

    def _existing_size(self, beneath: Beneath, parts: list[str], overwrite: bool, parents: bool) -> int:
        try:
            entry = beneath.stat(parts)
        except NotFound:
            if not parents:
                beneath.stat(parts[:-1])  # the folder must exist: a clear error now, not after the upload
            return 0
        if entry.type == "directory":
            raise Conflict(f"{beneath.shown(parts)} is a folder", code="is_a_directory")
        if not overwrite:
            raise AlreadyExists(f"{beneath.shown(parts)} already exists (upload with overwrite to replace it)",
                                field="path")
        return entry.size

    def _room(self, root: Root, replacing: int) -> int:
        self.db.rollback()  # end the read transaction: a long transfer holds no database connection
        if root.quota is None:
            return 2**63
        return root.quota - self.usage(root) + replacing

    def _check_room(self, root: Root, size: int, replacing: int) -> None:
        room = self._room(root, replacing)
        if size > room:
            raise _quota_error(root, size, room)

    def _place_upload(self, root: Root, parts: list[str], temp_name: str, overwrite: bool, parents: bool) -> Entry:
        with _PLACING_LOCK:  # the last quota check and the placement, one upload at a time
            return self._place_upload_locked(root, parts, temp_name, overwrite, parents)

    def _place_upload_locked(self, root: Root, parts: list[str], temp_name: str, overwrite: bool,
                             parents: bool) -> Entry:
        beneath = root.beneath()
        replacing = self._existing_size(beneath, parts, overwrite, parents)
        if root.quota is not None and self.usage(root) - replacing > root.quota:
            # Another upload finished first and used the room this one counted on.
            raise QuotaExceeded(f"{root.shown_as} is full: its quota of {format_size(root.quota)} would be exceeded")
        uploads_fd = os.open(self._uploads_dir(), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            with beneath._dir(parts[:-1], create=parents) as dirfd:
                if overwrite:
                    os.replace(temp_name, parts[-1], src_dir_fd=uploads_fd, dst_dir_fd=dirfd)
                else:
                    try:
                        os.link(temp_name, parts[-1], src_dir_fd=uploads_fd, dst_dir_fd=dirfd, follow_symlinks=False)
                    except FileExistsError:
                        raise AlreadyExists(f"{beneath.shown(parts)} already exists", field="path") from None
                    os.unlink(temp_name, dir_fd=uploads_fd)  # now in place: stop counting it twice
                return Entry.of(parts[-1], os.stat(parts[-1], dir_fd=dirfd, follow_symlinks=False))
        finally:
            os.close(uploads_fd)

    def _uploads_dir(self) -> Path:
        path = self.settings.workspaces_dir / ".uploads"
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    def _uploads_in_progress(self, root: Root) -> list[os.DirEntry]:
        prefix = f"{UPLOAD_PREFIX}{root.upload_key}-"
        with os.scandir(self._uploads_dir()) as scan:
            return [item for item in scan if item.name.startswith(prefix)]

    def remove_stale_uploads(self, older_than: float = STALE_UPLOAD_SECONDS) -> int:
        """Delete temporary files of uploads cut off by a crash (run at start-up)."""
        removed = 0
        cutoff = time.time() - older_than
        with os.scandir(self._uploads_dir()) as scan:
            for item in scan:
                if item.name.startswith(UPLOAD_PREFIX) and item.stat().st_mtime < cutoff:
                    os.unlink(item.path)
                    removed += 1
        return removed

    def _workspace_dir(self, kind: str, name: str) -> str:
        check_name(name)
        path = self.settings.workspaces_dir / kind / name
        if not path.is_dir():
            path.mkdir(parents=True, exist_ok=True, mode=0o755)
        return str(path)

    def _virtual_listing(self, actor: Actor | None, path: str) -> list[Entry]:
        if path == "":
            names = ([MY_WORKSPACE, TEAM_WORKSPACES] if actor else []) + [VOLUMES]
        elif path == TEAM_WORKSPACES:
            names = sorted(_logged_in(actor).teams)
        else:
            names = [d.name for d in self.datasets.visible(actor)]
        return [Entry(name, "directory", 0, EPOCH) for name in names]


def _logged_in(actor: Actor | None) -> Actor:
    if actor is None:
        raise NotAuthenticated("log in to use workspaces")
    return actor


def _quota_error(root: Root, size: int, room: int) -> QuotaExceeded:
    return QuotaExceeded(
        f"not enough room in {root.shown_as}: {format_size(size)} needed, {format_size(max(room, 0))} free "
        f"of a {format_size(root.quota)} quota"
    )


def _tree_size(root: Root, parts: list[str]) -> int:
    return Beneath(os.path.join(root.host_path, *parts), shown_as=root.shown_as).usage()


async def _receive_into(fd: int, body: AsyncIterator[bytes], room: int,
                        too_big: Callable[[int], Exception]) -> tuple[int, bytearray]:
    """Write ``body`` to ``fd`` in ``WRITE_BUFFER`` pieces; return the bytes received and the unwritten tail.

    A worker thread writes one piece while the next one is received, so the network and the disk
    work at the same time (waiting for each write before reading on made uploads ~1.5x slower).
    At most two pieces are held in memory.
    """
    pieces, to_write = anyio.create_memory_object_stream[bytearray](0)

    async def write_pieces() -> None:
        async with to_write:
            async for piece in to_write:
                await anyio.to_thread.run_sync(_write_all, fd, piece)

    received = 0
    buffer = bytearray()
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(write_pieces)
            async with pieces:
                async for chunk in body:
                    received += len(chunk)
                    if received > room:
                        raise too_big(received)
                    buffer += chunk
                    if len(buffer) >= WRITE_BUFFER:
                        try:
                            await pieces.send(buffer)  # waits until the previous piece is written
                        except anyio.BrokenResourceError:
                            break  # the writer failed: the task group raises its error
                        buffer = bytearray()  # handed over, not copied
    except ExceptionGroup as errors:  # one task failed: report its error, not the group
        raise errors.exceptions[0] from None
    return received, buffer


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _finish(fd: int, data: bytes | bytearray) -> None:
    _write_all(fd, data)
    os.fsync(fd)
