"""Settings: environment variables (``DATALABS_*``) override a TOML file, which overrides defaults.

Every setting carries its help text in ``description``; ``docs/settings.md`` is generated from
this class (``datalabs settings --markdown``) and a test checks that it is up to date.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from datalabs.sizes import parse_size

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "datalabs"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DATALABS_", extra="forbid")

    data_dir: Path = Field(
        DEFAULT_DATA_DIR,
        description="Folder holding the SQLite database, the secret key and all workspaces.",
    )
    config_file: Path | None = Field(
        None,
        description="TOML file with settings (same names, lower case). Defaults to "
        "`<data_dir>/datalabs.toml` when that file exists. Environment variables win over it.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the database, e.g. `postgresql+psycopg://user:pw@host/db`. "
        "Defaults to a SQLite file `<data_dir>/datalabs.sqlite3` (WAL mode).",
    )
    database_pool_size: int = Field(
        10, ge=1,
        description="PostgreSQL: connections each server process keeps open in its pool (ignored on SQLite and "
        "with `database_pgbouncer`). See docs/postgresql.md.",
    )
    database_max_overflow: int = Field(
        20, ge=0,
        description="PostgreSQL: connections opened beyond `database_pool_size` under load, closed when "
        "returned. A process uses at most `database_pool_size + database_max_overflow` connections.",
    )
    database_pool_timeout: float = Field(
        30, gt=0,
        description="PostgreSQL: seconds a request waits for a free pooled connection before it fails.",
    )
    database_pool_recycle: int = Field(
        1800,
        description="PostgreSQL: seconds after which a pooled connection is replaced by a new one (keep it below "
        "any idle timeout of a firewall or proxy on the way); -1 never replaces them.",
    )
    database_pgbouncer: bool = Field(
        False,
        description="PostgreSQL reached through PgBouncer in transaction pooling mode: keep no pool of our own "
        "(SQLAlchemy `NullPool`) and prepare no statements on the server (psycopg `prepare_threshold=None`). "
        "Run `datalabs db upgrade` against PostgreSQL directly.",
    )
    database_statement_timeout: float = Field(
        0, ge=0,
        description="PostgreSQL: seconds after which the server cancels a statement (0: no limit). Sent as a "
        "connection startup option; behind PgBouncer set it on the role instead (`ALTER ROLE ... SET "
        "statement_timeout`). TAP queries set their own limit.",
    )
    secret_key: str | None = Field(
        None,
        description="Key that signs cookies. Defaults to a random key kept in `<data_dir>/secret_key` "
        "(created with mode 0600 on first start).",
    )
    host: str = Field("127.0.0.1", description="Address `datalabs serve` listens on.")
    port: int = Field(8000, description="Port `datalabs serve` listens on.")
    public_url: str | None = Field(
        None,
        description="URL users reach the platform at (used in printed links). Defaults to "
        "`http://<host>:<port>`.",
    )
    cookie_secure: Literal["auto", "always", "never"] = Field(
        "auto",
        description="`Secure` flag of the login cookie: `auto` sets it when the request came over "
        "HTTPS (directly or through a proxy listed in `forwarded_allow_ips`), `always` always, "
        "`never` never (only for plain-HTTP test setups).",
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="Comma-separated addresses of reverse proxies whose `X-Forwarded-*` headers "
        "are trusted (passed to uvicorn).",
    )
    login_session_hours: float = Field(
        12.0, description="How long a web login lasts before the user must log in again."
    )
    login_max_failures: int = Field(
        5,
        description="Failed web logins allowed for one user name within `login_lockout_minutes` "
        "before further attempts are refused until that window has passed (0 turns this off).",
    )
    login_lockout_minutes: float = Field(
        15.0, description="The window (and lock-out time) for `login_max_failures`."
    )
    user_quota: int = Field(
        10 * 1024**3,
        description="Default size limit of a personal workspace, in bytes or with a unit "
        "(`10G`, `500M`). A user's own quota (`datalabs user quota`) overrides it.",
    )
    team_quota: int = Field(
        50 * 1024**3,
        description="Default size limit of a team workspace, in bytes or with a unit. "
        "A team's own quota (`datalabs team quota`) overrides it.",
    )
    demo_source: Path | None = Field(
        None,
        description="Folder of PDS test data that `serve --demo` turns into demo archive volumes. "
        "Defaults to `../shared/testdata/pds` next to the source checkout when it exists, "
        "otherwise a small synthetic PDS3/PDS4 volume is generated.",
    )
    anonymous_browse: bool = Field(
        True,
        description="Let visitors who are not logged in list and download public archive volumes "
        "(never embargoed ones, never workspaces).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level of the server."
    )
    env_cache_dir: Path | None = Field(
        None,
        description="uv's download and wheel cache for datalab environment builds. Defaults to "
        "`<data_dir>/uv-cache`. Builds reuse the wheels kept there (hard-linked when on the same "
        "file system as `<data_dir>/environments`), which is what makes rebuilds and builds of "
        "similar environments fast; delete it to free space (it is refilled on demand).",
    )
    build_environments: bool = Field(
        True,
        description="Build the Python environment of each imported datalab version in the background "
        "(uv, content-addressed). Turn off where datalabs run only from container images.",
    )
    env_max_builds: int = Field(
        2, description="How many datalab environment builds run at the same time (in the background)."
    )
    backend: str = Field(
        "local",
        description="Execution backend that runs datalab sessions and pipeline steps: `local` (bubblewrap "
        "sandboxes on this machine, CPU and memory limits by cgroups v2 or v1), `slurm` (each session a Slurm batch "
        "job, each pipeline step a Slurm job; see docs/slurm.md), `kubernetes` (sessions as pods; see "
        "docs/kubernetes.md) or another registered under the `datalabs.backends` entry points.",
    )
    slurm_conf: Path | None = Field(
        None,
        description="The Slurm configuration file the Slurm commands use (`SLURM_CONF`). Empty: the site's "
        "default (`/etc/slurm/slurm.conf`), or `SLURM_CONF` from the server's environment. `scripts/slurm start` "
        "prints the one of the test cluster.",
    )
    slurm_partition: str = Field("", description="Slurm partition for sessions and pipeline steps; empty: the "
                                 "cluster's default partition.")
    slurm_account: str = Field("", description="Slurm account charged for the jobs; empty: the submitting user's default.")
    slurm_sbatch_args: str = Field(
        "",
        description="Extra arguments for every job, as on a command line (e.g. `--qos=interactive "
        "--constraint=bigmem`): given to `sbatch` for sessions and to `srun` for pipeline steps.",
    )
    slurm_allowed_sources: str = Field(
        "127.0.0.1/32",
        description="The address range (one CIDR) a session's port on its node admits connections from: the "
        "address the platform's proxy connects from. Every other host of the cluster is refused.",
    )
    slurm_python: str = Field(
        "",
        description="The Python interpreter, with datalabs installed, that Slurm nodes run for a session's job; "
        "empty: the server's own (nodes must see it at the same path, like the data folder).",
    )
    slurm_time_limit_minutes: int = Field(
        0,
        description="Slurm time limit of a session's job, in minutes. 0: the session lifetime plus ten minutes "
        "(the platform stops sessions itself; Slurm's limit is the backstop), or the partition's default when "
        "sessions never expire.",
    )
    slurm_step_time_limit_minutes: int = Field(
        0, description="Slurm time limit of each pipeline step's job, in minutes; 0: the partition's default."
    )
    kubernetes_namespace: str = Field(
        "datalabs", description="Kubernetes namespace of session pods, services, secrets, network policies and step jobs.")
    kubernetes_image: str = Field(
        "python:3.11-slim",
        description="Container image of Kubernetes sessions and steps: the system; the datalab's Python environment is "
        "mounted from the data folder.")
    kubernetes_volume_claims: dict[str, str] = Field(
        default_factory=dict,
        description="Host path prefix -> PersistentVolumeClaim (JSON in the environment): a mount under a prefix becomes "
        "that claim with the rest of the path as subPath (longest prefix wins); other paths become hostPath volumes "
        "(nodes must mount the same shared file system at the same paths).")
    kubernetes_platform_labels: dict[str, str] = Field(
        default_factory=lambda: {"app.kubernetes.io/name": "datalabs"},
        description="Labels of the platform's pods: the only pods a session's NetworkPolicy admits.")
    kubernetes_platform_namespace: str | None = Field(
        None, description="Namespace of the platform's pods, when it is not `kubernetes_namespace`.")
    kubernetes_platform_url: str | None = Field(
        None,
        description="URL where Kubernetes sessions reach the platform's API. Unset: sessions have no network at all; set: "
        "egress only to the platform's port and the cluster DNS, and `DATALABS_URL` is set to it.")
    kubernetes_service_account: str | None = Field(
        None, description="Service account of session and step pods (its token is never mounted).")
    kubernetes_image_pull_policy: str = Field("IfNotPresent", description="imagePullPolicy of the containers.")
    kubernetes_image_pull_secrets: list[str] = Field(
        default_factory=list, description="Names of registry secrets in the namespace, for private images.")
    kubernetes_node_selector: dict[str, str] = Field(
        default_factory=dict, description="nodeSelector of session and step pods (JSON in the environment).")
    kubernetes_tolerations: list[dict] = Field(
        default_factory=list, description="Tolerations of session and step pods, written as in Kubernetes (JSON).")
    kubernetes_uid: int = Field(1000, description="uid sessions and steps run as (the owner of the platform's files "
                                "on the shared storage).")
    kubernetes_gid: int = Field(1000, description="gid sessions and steps run as.")
    kubernetes_cluster_domain: str = Field("cluster.local", description="The cluster's DNS domain, in the "
                                           "services' names the proxy connects to.")
    kubernetes_tmp_size: str = Field("2Gi", description="Size limit of a Kubernetes session's `/tmp` (an emptyDir).")
    kubernetes_step_ttl_seconds: int = Field(3600, description="ttlSecondsAfterFinished of pipeline step Jobs.")
    kubernetes_request_timeout: float = Field(
        30.0, description="Seconds before a Kubernetes API call is given up (reported as retriable).")
    slurm_jobs_per_run: int = Field(
        64,
        description="How many of a pipeline run's steps may be submitted to Slurm at once (a wide scatter waits "
        "in the driver beyond this, not in Slurm's queue).",
    )
    sessions_per_user: int = Field(
        2, description="How many datalab sessions one user may have at the same time (starting or running)."
    )
    session_cpu_max: float = Field(
        4.0, description="Most CPUs one session may ask for, whatever its datalab allows."
    )
    session_memory_max: int = Field(
        16 * 1024**3, description="Most memory one session may ask for, in bytes or with a unit (`16G`)."
    )
    session_lifetime_hours: float = Field(
        24.0,
        description="A session stops this long after it started or was last renewed (Renew in the web UI, "
        "`POST /api/v1/sessions/{id}/renew`). 0 means never.",
    )
    session_idle_minutes: float = Field(
        120.0,
        description="A session with no traffic through the proxy for this long is stopped (a JupyterLab "
        "with a busy kernel is never idle). 0 turns idle culling off.",
    )
    session_start_timeout_seconds: float = Field(
        300.0,
        description="A session whose datalab does not answer within this time after its processes "
        "started is stopped and marked failed (queueing on a batch backend does not count).",
    )
    stop_sessions_on_shutdown: bool = Field(
        False,
        description="Stop every session when the server shuts down. Off by default: sessions keep "
        "running and are adopted again when the server starts.",
    )

    pipeline_cpu_quota: float = Field(
        0,
        description="CPUs one user's pipeline steps may use at the same time; a scatter runs at most this many "
        "one-CPU steps at once. 0 means all the cores of this machine.",
    )
    pipeline_runs_per_user: int = Field(
        1,
        description="How many pipeline runs of one user go at the same time; later runs wait, queued. With the "
        "default of 1 a user's steps never use more than `pipeline_cpu_quota` CPUs together.",
    )
    pipeline_step_memory_max: int = Field(
        8 * 1024**3,
        description="Most memory one pipeline step may ask for (CWL `ResourceRequirement.ramMin`), in bytes or "
        "with a unit (`8G`). Each step is held to what it asks for (256 MiB when it does not say).",
    )
    pipeline_resume_attempts: int = Field(
        2,
        description="How many times a run whose driver process ended unexpectedly (a crash, a reboot) is "
        "resumed; jobs already done are reused from the run's cache. Then the run fails with the reason.",
    )
    pipeline_warm_launcher: bool = Field(
        True,
        description="Keep a process with cwltool loaded that forks each run's workflow engine (a run starts "
        "about a second sooner). Off: every run starts a fresh Python process.",
    )
    pipeline_provenance: bool = Field(
        False,
        description="Record CWL provenance for every run, offered as a Workflow Run RO-Crate (zip). Off by "
        "default because it checksums every file and slows small steps down; a run can ask for it "
        "(`provenance: true`, the checkbox on the run form).",
    )

    tap_default_maxrec: int = Field(
        100_000,
        description="Rows a TAP query returns when it gives no MAXREC (more rows are cut off and the result is "
        "marked OVERFLOW).",
    )
    tap_max_maxrec: int = Field(
        10_000_000, description="The most rows one TAP query may return, whatever MAXREC it asks for."
    )
    tap_sync_timeout_seconds: float = Field(
        60.0, description="Time limit of a synchronous TAP query (`/tap/sync`); longer queries belong in `/tap/async`."
    )
    tap_execution_duration_seconds: int = Field(
        600,
        description="Time limit of an asynchronous TAP job when it asks for none (UWS `executionDuration`).",
    )
    tap_max_execution_duration_seconds: int = Field(
        3600, description="The longest time limit an asynchronous TAP job may ask for."
    )
    tap_job_lifetime_days: float = Field(
        7.0,
        description="How long an asynchronous TAP job and its result are kept (UWS `destruction`); expired jobs "
        "are deleted with their result files.",
    )
    tap_job_workers: int = Field(2, description="How many asynchronous TAP jobs run at the same time.")

    @field_validator("user_quota", "team_quota", "session_memory_max", "pipeline_step_memory_max", mode="before")
    @classmethod
    def _parse_size(cls, value: Any) -> int:
        return parse_size(value)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlFileSource(settings_cls, init_settings, env_settings))

    # -- derived values -------------------------------------------------------------------

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url[len("postgresql://") :]
            return url
        return f"sqlite:///{self.data_dir / 'datalabs.sqlite3'}"

    @property
    def workspaces_dir(self) -> Path:
        return self.data_dir / "workspaces"

    @property
    def environments_dir(self) -> Path:
        return self.data_dir / "environments"

    @property
    def sessions_dir(self) -> Path:
        return self.data_dir / "sessions"

    @property
    def pipeline_runs_dir(self) -> Path:
        return self.data_dir / "pipelines" / "runs"

    @property
    def homes_dir(self) -> Path:
        return self.data_dir / "homes"

    @property
    def uv_cache_dir(self) -> Path:
        return self.env_cache_dir or self.data_dir / "uv-cache"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def ensure_data_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.workspaces_dir.mkdir(exist_ok=True)

    def signing_key(self) -> str:
        """The cookie-signing key: the setting, else the key file in the data dir (made once)."""
        if self.secret_key:
            return self.secret_key
        self.ensure_data_dir()
        key_file = self.data_dir / "secret_key"
        try:
            return key_file.read_text().strip()
        except FileNotFoundError:
            key = secrets.token_urlsafe(48)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(key)
            return key


class _TomlFileSource(PydanticBaseSettingsSource):
    """Reads the TOML settings file named by init/env ``config_file`` or found in the data dir."""

    def __init__(self, settings_cls, init_settings, env_settings) -> None:
        super().__init__(settings_cls)
        self._earlier = {**env_settings(), **init_settings()}

    def get_field_value(self, field, field_name):  # pragma: no cover - unused by __call__
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = self._earlier.get("config_file")
        if path is None:
            data_dir = Path(self._earlier.get("data_dir") or DEFAULT_DATA_DIR)
            candidate = data_dir / "datalabs.toml"
            if not candidate.exists():
                return {}
            path = candidate
        path = Path(path)
        try:
            with path.open("rb") as handle:
                values = tomllib.load(handle)
        except FileNotFoundError:
            raise ValueError(f"settings file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"settings file {path}: {exc}") from None
        return values


def settings_markdown() -> str:
    """The settings reference page (docs/settings.md), generated from the Settings class."""
    lines = [
        "# Settings",
        "",
        "Every setting can be given as an environment variable `DATALABS_<NAME>` (upper case) or",
        "as `name = value` in a TOML file (`DATALABS_CONFIG_FILE`, or `<data_dir>/datalabs.toml`).",
        "Environment variables win over the file. This page is generated by",
        "`datalabs settings --markdown`; a test keeps it in step with the code.",
        "",
        "| setting | environment variable | default | meaning |",
        "|---|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        default = field.default
        if name == "data_dir":
            default = "~/.local/share/datalabs"
        shown = "" if default is None else f"`{default}`"
        lines.append(f"| `{name}` | `DATALABS_{name.upper()}` | {shown} | {field.description} |")
    return "\n".join(lines) + "\n"
