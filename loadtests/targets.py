"""Which targets a run drives, and the rule that keeps the suite on loopback.

A target is either embedded (the reference backend, started by ``loadbench run`` on a free
loopback port) or external (a URL the user gave). A non-loopback host is refused unless the user
also names it with ``--allow-remote HOST``: pointing a load generator at a machine is a decision,
never a default or a typo.

The guard checks a URL once; it holds because no connection ever goes anywhere else: every
transport refuses redirects (HTTP: ``allow_redirects=False``; real-time:
``loadtests.transport.wire.NO_WS_REDIRECTS``).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from loadtests.errors import ConfigError

TargetMode = Literal["blue", "green", "both", "canary"]
COLORS_BY_MODE: dict[str, tuple[str, ...]] = {
    "blue": ("blue",),
    "green": ("green",),
    "both": ("blue", "green"),
    "canary": ("blue", "green"),  # both colors, users moved from blue to green in stages
}


@dataclass(frozen=True)
class TargetPlan:
    color: str
    url: str | None  # None: start the embedded reference backend


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:  # a name: loopback only if every address it resolves to is loopback
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def check_url(url: str, *, allow_remote: tuple[str, ...] = (), flag: str = "--url") -> str:
    """A normalised base URL (no trailing slash, no credentials) or a ``ConfigError``."""
    try:
        parts = urlsplit(url.strip())
    except ValueError as error:  # e.g. "An IPv4 address cannot be in brackets"
        raise ConfigError(f"{flag} {url!r} is not a valid URL ({error})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{flag} {url!r} is not an http(s) URL like http://127.0.0.1:8000")
    if parts.username or parts.password:
        raise ConfigError(f"{flag}: put credentials in the environment, not in the URL")
    try:
        _ = parts.port
    except ValueError:
        raise ConfigError(f"{flag} {url!r} has an invalid port") from None
    host = parts.hostname
    if not is_loopback(host) and host not in allow_remote:
        raise ConfigError(
            f"{flag} {host} is not a loopback address; to load-test another machine, name it with --allow-remote {host}"
        )
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def plan_targets(mode: str, urls: dict[str, str | None], *, allow_remote: tuple[str, ...] = ()) -> list[TargetPlan]:
    if mode not in COLORS_BY_MODE:
        raise ConfigError(f"--target {mode!r}: expected one of {', '.join(COLORS_BY_MODE)}")
    colors = COLORS_BY_MODE[mode]
    for color, url in urls.items():
        if url and color not in colors:
            raise ConfigError(f"--{color}-url given but --target {mode} does not drive {color}")
    return [
        TargetPlan(color, check_url(url, allow_remote=allow_remote, flag=f"--{color}-url") if url else None)
        for color in colors
        for url in [urls.get(color)]
    ]
