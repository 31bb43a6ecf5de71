"""File operations confined beneath a root folder.

Workspaces are written by users (and, later, by code in their datalabs), so a symlink may
appear anywhere, at any moment. Every operation therefore walks from the root one directory
file descriptor at a time with ``O_NOFOLLOW``: a symlink is never followed, even one swapped in
between a check and a use, and nothing outside the root is read or written.

Archive volumes are read-only and curated by admins; there, symlinks that stay inside the
volume are followed (real archives use them) and any that lead outside are refused.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from dataclasses import dataclass
from datetime import UTC, datetime

from datalabs.errors import AlreadyExists, Conflict, InvalidInput, NotFound, PermissionDenied

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_NOFOLLOW = os.O_NOFOLLOW


@dataclass(frozen=True)
class Entry:
    name: str
    type: str  # "file", "directory", "symlink" or "other"
    size: int
    modified: datetime

    @classmethod
    def of(cls, name: str, st: os.stat_result) -> Entry:
        if stat.S_ISREG(st.st_mode):
            kind = "file"
        elif stat.S_ISDIR(st.st_mode):
            kind = "directory"
        elif stat.S_ISLNK(st.st_mode):
            kind = "symlink"
        else:
            kind = "other"
        size = st.st_size if kind == "file" else 0
        return cls(name, kind, size, datetime.fromtimestamp(st.st_mtime, UTC))


class Beneath:
    """Operations on ``root`` addressed by name segments (already checked by ``safepath``)."""

    def __init__(self, root: str, *, shown_as: str, follow_inside_symlinks: bool = False) -> None:
        self.root = root
        self.shown_as = shown_as
        self.follow_inside = follow_inside_symlinks

    def shown(self, parts: list[str]) -> str:
        return "/".join([self.shown_as, *parts])

    # -- reading --------------------------------------------------------------------------

    def stat(self, parts: list[str]) -> Entry:
        if not parts:
            return Entry.of(self.shown_as.rsplit("/", 1)[-1], self._stat_root())
        with self._dir(parts[:-1]) as dirfd:
            st = self._lstat(dirfd, parts[-1], parts)
        if stat.S_ISLNK(st.st_mode):  # what it points at is not ours to describe
            raise self._symlink_refused(parts)
        return Entry.of(parts[-1], st)

    def list(self, parts: list[str]) -> list[Entry]:
        with self._dir(parts) as dirfd:
            entries = []
            with os.scandir(dirfd) as scan:
                for item in scan:
                    try:
                        st = item.stat(follow_symlinks=self.follow_inside and self._inside_link(parts, item.name))
                    except OSError:
                        continue
                    entries.append(Entry.of(item.name, st))
        entries.sort(key=lambda e: (e.type != "directory", e.name.lower(), e.name))
        return entries

    def open_file(self, parts: list[str]) -> tuple[int, os.stat_result]:
        """An open read-only descriptor on a regular file, and its stat; the caller closes it."""
        if not parts:
            raise InvalidInput(f"{self.shown(parts)} is a folder, not a file", code="is_a_directory")
        with self._dir(parts[:-1]) as dirfd:
            self._lstat(dirfd, parts[-1], parts)
            try:
                # O_NONBLOCK: a FIFO put in a workspace must not hang the server (regular files ignore it)
                fd = os.open(parts[-1], os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | self._nofollow(parts),
                             dir_fd=dirfd)
            except OSError as exc:
                raise self._translate(exc, parts) from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            if stat.S_ISDIR(st.st_mode):
                raise InvalidInput(f"{self.shown(parts)} is a folder, not a file", code="is_a_directory")
            raise InvalidInput(f"{self.shown(parts)} is not a regular file", code="not_a_file")
        return fd, st

    def usage(self) -> int:
        """Bytes used by regular files under the root (symlinks are not followed)."""
        total = 0
        stack = [self.root]
        while stack:
            try:
                with os.scandir(stack.pop()) as scan:
                    for item in scan:
                        try:
                            if item.is_dir(follow_symlinks=False):
                                stack.append(item.path)
                            elif item.is_file(follow_symlinks=False):
                                total += item.stat(follow_symlinks=False).st_size
                        except OSError:
                            continue
            except OSError:
                continue
        return total

    # -- writing (workspaces only; callers check that the root is writable) ---------------

    def mkdir(self, parts: list[str], *, parents: bool = False) -> Entry:
        if not parts:
            raise AlreadyExists(f"{self.shown(parts)} already exists")
        with self._dir(parts[:-1], create=parents) as dirfd:
            try:
                os.mkdir(parts[-1], 0o755, dir_fd=dirfd)
            except FileExistsError:
                raise AlreadyExists(f"{self.shown(parts)} already exists", field="path") from None
            return Entry.of(parts[-1], os.stat(parts[-1], dir_fd=dirfd, follow_symlinks=False))

    def delete(self, parts: list[str], *, recursive: bool = False) -> None:
        if not parts:
            raise PermissionDenied(f"{self.shown(parts)} itself cannot be deleted")
        with self._dir(parts[:-1]) as dirfd:
            st = self._lstat(dirfd, parts[-1], parts)
            if stat.S_ISDIR(st.st_mode):
                if recursive:
                    shutil.rmtree(parts[-1], dir_fd=dirfd)  # fd-based: never follows symlinks
                else:
                    try:
                        os.rmdir(parts[-1], dir_fd=dirfd)
                    except OSError as exc:
                        if exc.errno == errno.ENOTEMPTY:
                            raise Conflict(f"{self.shown(parts)} is not empty: delete it recursively",
                                           code="not_empty") from None
                        raise
            else:
                os.unlink(parts[-1], dir_fd=dirfd)

    def move_to(self, parts: list[str], target: Beneath, target_parts: list[str]) -> Entry:
        """Rename ``parts`` to ``target_parts`` under ``target`` (same file system); never overwrites."""
        if not parts or not target_parts:
            raise PermissionDenied("a workspace itself cannot be moved")
        if os.path.realpath(target.root) == os.path.realpath(self.root) and target_parts[: len(parts)] == parts:
            raise InvalidInput("a folder cannot be moved into itself", field="destination")
        with self._dir(parts[:-1]) as src_dirfd, target._dir(target_parts[:-1]) as dst_dirfd:
            self._lstat(src_dirfd, parts[-1], parts)
            try:
                os.stat(target_parts[-1], dir_fd=dst_dirfd, follow_symlinks=False)
            except FileNotFoundError:
                pass
            else:
                raise AlreadyExists(f"{target.shown(target_parts)} already exists", field="destination")
            os.rename(parts[-1], target_parts[-1], src_dir_fd=src_dirfd, dst_dir_fd=dst_dirfd)
            return Entry.of(target_parts[-1], os.stat(target_parts[-1], dir_fd=dst_dirfd, follow_symlinks=False))

    def open_dir(self, parts: list[str], *, create: bool = False) -> int:
        """An open descriptor on the folder ``parts`` (created with its parents when asked)."""
        try:
            fd = os.open(self.root, _DIR_FLAGS)
        except FileNotFoundError:  # e.g. a volume's disk is not mounted
            raise NotFound(f"{self.shown_as} is not available on this server", field="path") from None
        try:
            for index, part in enumerate(parts):
                next_fd = self._open_child_dir(fd, part, parts[: index + 1], create)
                os.close(fd)
                fd = next_fd
            return fd
        except BaseException:
            os.close(fd)
            raise

    # -- internals ------------------------------------------------------------------------

    def _dir(self, parts: list[str], *, create: bool = False) -> _OpenDir:
        return _OpenDir(self, parts, create)

    def _open_child_dir(self, dirfd: int, name: str, so_far: list[str], create: bool) -> int:
        try:
            return os.open(name, _DIR_FLAGS | self._nofollow(so_far), dir_fd=dirfd)
        except FileNotFoundError:
            if not create:
                raise NotFound(f"no such folder: {self.shown(so_far)}", field="path") from None
            try:
                os.mkdir(name, 0o755, dir_fd=dirfd)
            except FileExistsError:
                pass
            return self._open_child_dir(dirfd, name, so_far, False)
        except OSError as exc:
            raise self._translate(exc, so_far, dirfd) from None

    def _nofollow(self, parts: list[str]) -> int:
        if self.follow_inside and self._inside_link(parts[:-1], parts[-1] if parts else ""):
            return 0
        return _NOFOLLOW

    def _inside_link(self, parent: list[str], name: str) -> bool:
        """True when the path resolves inside the root (only asked for volumes)."""
        root_real = os.path.realpath(self.root)
        real = os.path.realpath(os.path.join(self.root, *parent, name))
        return real == root_real or real.startswith(root_real + os.sep)

    def _stat_root(self) -> os.stat_result:
        try:
            return os.stat(self.root)
        except FileNotFoundError:
            raise NotFound(f"{self.shown_as} is not available on this server", field="path") from None

    def _lstat(self, dirfd: int, name: str, parts: list[str]) -> os.stat_result:
        try:
            st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
        except FileNotFoundError:
            raise NotFound(f"no such file or folder: {self.shown(parts)}", field="path") from None
        if stat.S_ISLNK(st.st_mode) and self.follow_inside and self._inside_link(parts[:-1], name):
            try:
                return os.stat(name, dir_fd=dirfd)
            except FileNotFoundError:
                raise NotFound(f"no such file or folder: {self.shown(parts)}", field="path") from None
        return st

    def _symlink_refused(self, parts: list[str]) -> PermissionDenied:
        return PermissionDenied(f"{self.shown(parts)} is a symbolic link, which is not followed here",
                                code="symlink_refused")

    def _translate(self, exc: OSError, parts: list[str], dirfd: int | None = None) -> Exception:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            name = parts[-1]
            try:
                is_link = dirfd is not None and stat.S_ISLNK(os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_mode)
            except OSError:
                is_link = False
            if exc.errno == errno.ELOOP or is_link:
                return self._symlink_refused(parts)
            return InvalidInput(f"{self.shown(parts)} is not a folder", code="not_a_directory", field="path")
        if exc.errno == errno.ENOENT:
            return NotFound(f"no such file or folder: {self.shown(parts)}", field="path")
        if exc.errno == errno.EACCES:
            return PermissionDenied(f"{self.shown(parts)} cannot be read by the server")
        return exc


class _OpenDir:
    def __init__(self, beneath: Beneath, parts: list[str], create: bool) -> None:
        self.beneath, self.parts, self.create = beneath, parts, create
        self.fd = -1

    def __enter__(self) -> int:
        self.fd = self.beneath.open_dir(self.parts, create=self.create)
        return self.fd

    def __exit__(self, *exc) -> None:
        os.close(self.fd)
