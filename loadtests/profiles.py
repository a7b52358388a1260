"""Profiles: YAML files in ``profiles/`` parsed once, strictly, into frozen models.

An unknown key, a wrong type or an impossible value is a ``ConfigError`` that names the YAML path
(``profile smoke: users: Input should be greater than or equal to 1``). Profiles hold no secrets:
passwords and JWT secrets come from the environment.

A profile file is untrusted input (``loadtests.untrusted``): a regular file of at most 1 MiB, strict
YAML (a key given twice, a non-string key or an alias is an error naming its line), finite numbers
only (``.nan``, ``.inf``, ``1e400`` are refused), no boolean read as a number (``users: true``), and
every duration, size and rate under a documented upper bound (README, "Profiles").

Profile format version 1 (a public contract; change it on purpose, with a note in the README).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from contract.accounts import ENV_JWT_SECRET, ENV_USER_PASSWORD
from contract.knobs import FaultSettings, LlmSettings
from loadtests.arrivals import ArrivalSettings
from loadtests.dialects.options import DialectOptions
from loadtests.errors import ConfigError
from loadtests.shapes import Shape
from loadtests.slo_spec import DEFAULT_SLOS, SloConfigError, SloSpec, expand_overrides, resolve_slos
from loadtests.swarm.settings import SwarmSettings
from loadtests.timeouts import MAX_TIMEOUT_S, Timeouts
from loadtests.untrusted import MIB, UntrustedInputError, boolean_as_number, loads_yaml, non_finite, read_text

PROFILE_FORMAT_VERSION = 1
PROFILE_MAX_BYTES = 1 * MIB
# Upper bounds (README, "Profiles"): far above any sensible profile, low enough that nothing the
# suite builds from them (a payload, a sleep, a timer) exhausts memory or never ends.
MAX_THINK_TIME_S = 3600.0
MAX_UPLOAD_KB = 64 * 1024  # 64 MiB: above both colors' upload limits (5 and 10 MB), built in memory
MAX_DURATION_S = 7 * 24 * 3600.0
MAX_TOKEN_TTL_S = 30 * 24 * 3600
PROFILES_DIR = Path(__file__).resolve().parent.parent / "profiles"

# User classes a profile's mix may name (the workload issue adds uploaders, agents and admins).
KNOWN_USER_CLASSES = ("ChatUser", "UploaderUser", "AgentRunnerUser", "AdminReader", "SwarmUser")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def _ordered(value: tuple[float, float]) -> tuple[float, float]:
    if value[0] < 0 or value[0] > value[1] or value[1] > MAX_THINK_TIME_S:
        raise ValueError(f"must be [min, max] with 0 <= min <= max <= {MAX_THINK_TIME_S:g}")
    return value


ThinkTime = Annotated[tuple[float, float], AfterValidator(_ordered)]  # seconds between a user's tasks


class ChatSettings(_Strict):
    think_time_s: ThinkTime = (1.0, 3.0)
    prompt_words: int = Field(default=12, ge=1, le=2000)
    max_open_chats: int = Field(default=3, ge=1, le=100)


class UploaderSettings(_Strict):
    think_time_s: ThinkTime = (2.0, 5.0)
    formats: tuple[Literal["txt", "md", "csv", "json", "pdf", "docx", "png"], ...] = (
        "txt", "md", "csv", "json", "pdf", "docx", "png",
    )  # fmt: skip
    sizes_kb: tuple[int, ...] = (4, 64, 512)
    over_limit_share: float = Field(default=0.05, ge=0, le=1)  # uploads sent over the limit on purpose

    @field_validator("sizes_kb")
    @classmethod
    def _positive(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or len(value) > 32 or any(size <= 0 or size > MAX_UPLOAD_KB for size in value):
            raise ValueError(f"needs 1 to 32 sizes, each > 0 and <= {MAX_UPLOAD_KB} (64 MiB)")
        return value


class AgentSettings(_Strict):
    think_time_s: ThinkTime = (2.0, 5.0)
    max_agents: int = Field(default=3, ge=1, le=100)


class AdminSettings(_Strict):
    think_time_s: ThinkTime = (3.0, 8.0)
    stats_days: int = Field(default=30, ge=1, le=3650)


class AuthSettings(_Strict):
    """Who the simulated users are. Secrets are never in the profile: only the names of the
    environment variables (or files) that hold them.

    ``password``: users log in with a password (the seeded pool ``<pool_prefix>0001…``, or the
    accounts of ``users_file``: one ``username[,user_id[,role]]`` per line). ``mint``: no login
    request; tokens are signed locally with the backend's JWT secret and the claims each color
    expects (research: the real deployments log users in through SAML, which a load test cannot
    drive)."""

    mode: Literal["password", "mint"] = "password"
    pool_prefix: str = "loadbench-user-"
    pool_size: int = Field(default=200, ge=1, le=100_000)
    users_file: str | None = None
    password_env: str = ENV_USER_PASSWORD  # the environment variable holding the pool's password
    admin_username: str | None = None  # AdminReader's account; None: <pool_prefix>superadmin
    admin_password_env: str | None = None  # None: password_env
    role: Literal["Students", "Staffs", "Admin", "SuperAdmin"] = "Admin"  # claims of minted tokens
    secret_env: str = ENV_JWT_SECRET  # mint: the environment variable holding the HS256 secret
    secret_file: str | None = None  # mint: or a file holding it
    token_ttl_s: int | None = Field(default=None, ge=60, le=MAX_TOKEN_TTL_S)  # mint: None = 1 day blue, 15 min green

    def usernames(self) -> list[str]:
        return [f"{self.pool_prefix}{n:04d}" for n in range(1, self.pool_size + 1)]

    @property
    def admin_account(self) -> str:
        return self.admin_username or f"{self.pool_prefix}superadmin"


class ColorBackend(_Strict):
    llm: LlmSettings | None = None
    faults: FaultSettings | None = None


class ReferenceBackendProfile(_Strict):
    """How ``loadbench run`` configures the embedded backends (ignored for external URLs)."""

    llm: LlmSettings = LlmSettings()
    faults: FaultSettings = FaultSettings()
    blue: ColorBackend = ColorBackend()
    green: ColorBackend = ColorBackend()
    # A planted outage: the backends are killed (SIGKILL, a crash) this many seconds after the
    # ramp-up, stay down `outage_s`, and come back on the same port with the same secrets.
    restart_after_ramp_s: tuple[Annotated[float, Field(ge=0, le=MAX_DURATION_S)], ...] = ()
    outage_s: float = Field(default=0.0, ge=0, le=600)
    # Access tokens shorter than the colors' defaults (1 day blue, 15 min green), so that a short
    # run exercises refresh the way a long one does.
    access_token_ttl_s: int | None = Field(default=None, ge=10, le=MAX_TOKEN_TTL_S)

    def for_color(self, color: str) -> tuple[LlmSettings, FaultSettings]:
        override: ColorBackend = getattr(self, color)
        return override.llm or self.llm, override.faults or self.faults


PROFILE_NAME_MAX = 64


class Profile(_Strict):
    version: Literal[1] = PROFILE_FORMAT_VERSION
    # It names the run directory (``<stamp>-<name>-<target>``: a file name is at most 255 bytes).
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=PROFILE_NAME_MAX)
    description: str = ""
    duration_s: float = Field(gt=0, le=MAX_DURATION_S)
    # Closed-model users (the mix); 0 with an empty mix for an open-model-only profile (arrivals).
    users: int = Field(ge=0, le=1_000_000)
    spawn_rate: float = Field(ge=0.01, le=10_000)  # users per second; 0.01: one user every 100 s
    interval_s: float = Field(default=1.0, ge=0.1, le=60)
    mix: dict[str, Annotated[int, Field(ge=0, le=1_000_000)]] = Field(default_factory=lambda: {"ChatUser": 1})
    arrivals: ArrivalSettings | None = None  # open-model load (loadtests.arrivals)
    health_probe_s: float | None = Field(default=1.0, gt=0, le=MAX_TIMEOUT_S)
    chat: ChatSettings = ChatSettings()
    uploader: UploaderSettings = UploaderSettings()
    agents: AgentSettings = AgentSettings()
    admin: AdminSettings = AdminSettings()
    auth: AuthSettings = AuthSettings()
    timeouts: Timeouts = Timeouts()  # the value object the client takes
    shape: Shape | None = None  # None: `users` at `spawn_rate`, held until `duration_s`
    swarm: SwarmSettings = SwarmSettings()  # used by SwarmUser (the connection swarm)
    target: Literal["blue", "green", "both", "canary"] | None = None  # `loadbench run`'s --target when none is given
    dialects: dict[Literal["blue", "green"], DialectOptions] = Field(default_factory=dict)
    reference_backend: ReferenceBackendProfile = ReferenceBackendProfile()
    slos: tuple[SloSpec, ...] = DEFAULT_SLOS

    @field_validator("mix")
    @classmethod
    def _known_classes(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(KNOWN_USER_CLASSES))
        if unknown:
            raise ValueError(f"unknown user class {unknown[0]!r}; known: {', '.join(KNOWN_USER_CLASSES)}")
        if value and not any(value.values()):
            raise ValueError("needs at least one user class with a positive weight")
        return value

    @model_validator(mode="after")
    def _some_load(self) -> Profile:
        # Closed users, open arrivals, or both; never neither.
        closed = bool(self.mix) and self.users >= 1
        if not closed and self.arrivals is None:
            if not self.mix:
                raise ValueError("mix: needs at least one user class with a positive weight (or an arrivals section)")
            raise ValueError("users: Input should be greater than or equal to 1 (or give an arrivals section)")
        if self.mix and self.users == 0:
            raise ValueError("users: 0 closed-model users with a mix: give users >= 1, or an empty mix: {}")
        return self

    @model_validator(mode="before")
    @classmethod
    def _slo_overrides(cls, data: Any) -> Any:
        """``slos`` may be a full list, or ``{override: {name: {field: value}}, drop: [...]}`` on the defaults."""
        if isinstance(data, dict) and isinstance(data.get("slos"), dict):
            data = {**data, "slos": expand_overrides(data["slos"], DEFAULT_SLOS)}
        return data

    @field_validator("slos")
    @classmethod
    def _unique_slo_names(cls, value: tuple[SloSpec, ...]) -> tuple[SloSpec, ...]:
        names = [slo.name for slo in value]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"SLO {twice[0]!r} appears twice; names identify checks")
        return value

    def dialect(self, color: str) -> DialectOptions:
        return self.dialects.get(color, DialectOptions())  # type: ignore[call-overload]

    @property
    def ramp_s(self) -> float:
        return self.users / self.spawn_rate if self.mix else 0.0


def available_profiles(directory: Path = PROFILES_DIR) -> list[str]:
    return sorted(path.stem for path in directory.glob("*.yaml"))


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def parse_profile(data: Any, *, source: str) -> Profile:
    """A profile from parsed data (a YAML document): every rule of the module docstring checked."""
    if not isinstance(data, dict):
        raise ConfigError(f"profile {source}: expected a mapping at the top level, got {type(data).__name__}")
    problem = non_finite(data)
    if problem:
        raise ConfigError(f"profile {source}: {problem}")
    if isinstance(data.get("slos"), dict | list):
        try:  # here rather than in the model, so that an SLO's error names its own path
            data = {**data, "slos": resolve_slos(data["slos"])}
        except SloConfigError as error:
            raise ConfigError(f"profile {source}: {error}") from None
    try:
        profile = Profile.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
        if not first["loc"] and first["msg"].startswith("Value error, "):  # a rule across fields: it names them
            raise ConfigError(f"profile {source}: {first['msg'].removeprefix('Value error, ')}{more}") from None
        raise ConfigError(f"profile {source}: {_location(first['loc'])}: {first['msg']}{more}") from None
    smuggled = boolean_as_number(data, profile.model_dump())
    if smuggled:
        raise ConfigError(f"profile {source}: {smuggled}: a boolean is not a number")
    return profile


def load_profile(name_or_path: str, *, directory: Path = PROFILES_DIR) -> Profile:
    """A profile by name (``smoke``) from ``profiles/``, or by path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = directory / f"{name_or_path}.yaml"
        if not path.is_file():
            known = ", ".join(available_profiles(directory)) or "none"
            raise ConfigError(f"unknown profile {name_or_path!r}; available: {known}")
    try:
        text = read_text(path, limit=PROFILE_MAX_BYTES)
    except UntrustedInputError as error:
        raise ConfigError(f"cannot read profile: {error}") from None
    except OSError as error:
        raise ConfigError(f"cannot read profile {path}: {error.strerror}") from None
    try:
        data = loads_yaml(text)
    except ValueError as error:
        raise ConfigError(f"profile {path.name}: {error}") from None
    return parse_profile(data, source=path.stem)
