"""Which targets a run drives, and the rule that keeps the suite on loopback.

A target is either embedded (the reference backend, started by ``loadbench run`` on a free
loopback port) or external (a URL the user gave). A non-loopback host is refused unless the user
also names it with ``--allow-remote HOST``: pointing a load generator at a machine is a decision,
never a default or a typo.

The guard checks a URL once; it holds because no connection ever goes anywhere else: every
transport refuses redirects (HTTP: ``allow_redirects=False``; real-time: ``NO_WS_REDIRECTS``).
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


# websocket-client follows up to 3 redirects by default, and python-socketio connects through it:
# a target answering a handshake with a 302 would send the load to any address, unchecked. Every
# real-time connection passes these options (websocket-client's ``connect``, python-socketio's
# ``websocket_extra_options``), so a redirect fails the connect instead. Refused rather than
# re-checked against the guard: websocket-client offers no hook between the redirect and the next
# request; a redirect on a handshake is a misconfigured target that a benchmark should show, not
# absorb (it would time two handshakes as one ``chat.connect``); and plain HTTP refuses them too.
NO_WS_REDIRECTS: dict[str, int] = {"redirect_limit": 0}


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
