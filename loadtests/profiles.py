"""Profiles: YAML files in ``profiles/`` parsed once, strictly, into frozen models.

An unknown key, a wrong type or an impossible value is a ``ConfigError`` that names the YAML path
(``profile smoke: users: Input should be greater than or equal to 1``). Profiles hold no secrets:
passwords and JWT secrets come from the environment.

Profile format version 1 (a public contract; change it on purpose, with a note in the README).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from analysis.slo_spec import DEFAULT_SLOS, SloSpec
from loadtests.client import Timeouts
from loadtests.dialects.options import DialectOptions
from loadtests.errors import ConfigError
from reference_backend.settings import ENV_USER_PASSWORD, FaultSettings, LlmSettings

PROFILE_FORMAT_VERSION = 1
PROFILES_DIR = Path(__file__).resolve().parent.parent / "profiles"

# User classes a profile's mix may name (the workload issue adds uploaders, agents and admins).
KNOWN_USER_CLASSES = ("ChatUser",)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChatSettings(_Strict):
    think_time_s: tuple[float, float] = (1.0, 3.0)
    prompt_words: int = Field(default=12, ge=1, le=2000)
    max_open_chats: int = Field(default=3, ge=1, le=100)

    @field_validator("think_time_s")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] < 0 or value[0] > value[1]:
            raise ValueError("must be [min, max] with 0 <= min <= max")
        return value


class AuthSettings(_Strict):
    mode: Literal["password"] = "password"
    pool_prefix: str = "loadbench-user-"
    pool_size: int = Field(default=200, ge=1, le=100_000)
    password_env: str = ENV_USER_PASSWORD  # the environment variable holding the pool's password

    def usernames(self) -> list[str]:
        return [f"{self.pool_prefix}{n:04d}" for n in range(1, self.pool_size + 1)]


class TimeoutSettings(_Strict):
    connect_s: float = Field(default=10.0, gt=0)
    http_s: float = Field(default=30.0, gt=0)
    exchange_s: float = Field(default=10.0, gt=0)
    first_token_s: float = Field(default=30.0, gt=0)
    complete_s: float = Field(default=60.0, gt=0)

    def to_timeouts(self) -> Timeouts:
        return Timeouts(**self.model_dump())


class ColorBackend(_Strict):
    llm: LlmSettings | None = None
    faults: FaultSettings | None = None


class ReferenceBackendProfile(_Strict):
    """How ``loadbench run`` configures the embedded backends (ignored for external URLs)."""

    llm: LlmSettings = LlmSettings()
    faults: FaultSettings = FaultSettings()
    blue: ColorBackend = ColorBackend()
    green: ColorBackend = ColorBackend()

    def for_color(self, color: str) -> tuple[LlmSettings, FaultSettings]:
        override: ColorBackend = getattr(self, color)
        return override.llm or self.llm, override.faults or self.faults


class Profile(_Strict):
    version: Literal[1] = PROFILE_FORMAT_VERSION
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    duration_s: float = Field(gt=0, le=7 * 24 * 3600)
    users: int = Field(ge=1, le=1_000_000)
    spawn_rate: float = Field(gt=0, le=10_000)
    interval_s: float = Field(default=1.0, ge=0.1, le=60)
    mix: dict[str, int] = Field(default_factory=lambda: {"ChatUser": 1})
    health_probe_s: float | None = Field(default=1.0, gt=0)
    chat: ChatSettings = ChatSettings()
    auth: AuthSettings = AuthSettings()
    timeouts: TimeoutSettings = TimeoutSettings()
    dialects: dict[Literal["blue", "green"], DialectOptions] = Field(default_factory=dict)
    reference_backend: ReferenceBackendProfile = ReferenceBackendProfile()
    slos: tuple[SloSpec, ...] = DEFAULT_SLOS

    @field_validator("mix")
    @classmethod
    def _known_classes(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(KNOWN_USER_CLASSES))
        if unknown:
            raise ValueError(f"unknown user class {unknown[0]!r}; known: {', '.join(KNOWN_USER_CLASSES)}")
        if not value or any(weight < 0 for weight in value.values()) or not any(value.values()):
            raise ValueError("needs at least one user class with a positive weight")
        return value

    @model_validator(mode="before")
    @classmethod
    def _slo_overrides(cls, data: Any) -> Any:
        """``slos`` may be a full list, or ``{override: {name: {field: value}}}`` on the defaults."""
        if isinstance(data, dict) and isinstance(data.get("slos"), dict):
            spec = data["slos"]
            unknown = set(spec) - {"override", "drop"}
            if unknown:
                raise ValueError(f"slos: unknown key {sorted(unknown)[0]!r}; use a list, or override/drop")
            overrides, drop = spec.get("override") or {}, set(spec.get("drop") or [])
            names = {slo.name for slo in DEFAULT_SLOS}
            for name in [*overrides, *drop]:
                if name not in names:
                    raise ValueError(f"slos: no default SLO named {name!r}; known: {', '.join(sorted(names))}")
            data = {
                **data,
                "slos": [
                    {**slo.model_dump(), **(overrides.get(slo.name) or {})}
                    for slo in DEFAULT_SLOS
                    if slo.name not in drop
                ],
            }
        return data

    def dialect(self, color: str) -> DialectOptions:
        return self.dialects.get(color, DialectOptions())  # type: ignore[call-overload]

    @property
    def ramp_s(self) -> float:
        return self.users / self.spawn_rate


def available_profiles(directory: Path = PROFILES_DIR) -> list[str]:
    return sorted(path.stem for path in directory.glob("*.yaml"))


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def parse_profile(data: Any, *, source: str) -> Profile:
    if not isinstance(data, dict):
        raise ConfigError(f"profile {source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return Profile.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = _location(first["loc"])
        more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
        raise ConfigError(f"profile {source}: {where}: {first['msg']}{more}") from None


def load_profile(name_or_path: str, *, directory: Path = PROFILES_DIR) -> Profile:
    """A profile by name (``smoke``) from ``profiles/``, or by path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = directory / f"{name_or_path}.yaml"
        if not path.is_file():
            known = ", ".join(available_profiles(directory)) or "none"
            raise ConfigError(f"unknown profile {name_or_path!r}; available: {known}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read profile {path}: {error.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"profile {path.name}: malformed YAML{where}") from None
    return parse_profile(data, source=path.stem)
