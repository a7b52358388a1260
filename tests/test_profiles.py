from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.errors import ConfigError
from loadtests.profiles import available_profiles, load_profile


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return str(path)


BASE = "version: 1\nname: t\nduration_s: 5\nusers: 2\nspawn_rate: 2\n"


def test_every_shipped_profile_loads() -> None:
    names = available_profiles()
    assert "smoke" in names
    for name in names:
        assert load_profile(name).name == name


def test_unknown_key_names_its_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"chat\.think_tme_s: Extra inputs are not permitted"):
        load_profile(write(tmp_path, BASE + "chat:\n  think_tme_s: [1, 2]\n"))


def test_wrong_type(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="users"):
        load_profile(write(tmp_path, BASE.replace("users: 2", "users: many")))


@pytest.mark.parametrize("bad", ["users: 0", "users: -3", "duration_s: 0", "spawn_rate: 0"])
def test_impossible_numbers(tmp_path: Path, bad: str) -> None:
    key = bad.split(":")[0]
    text = "\n".join(bad if line.startswith(key + ":") else line for line in BASE.splitlines())
    with pytest.raises(ConfigError, match=key):
        load_profile(write(tmp_path, text))


def test_malformed_yaml_says_where(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="malformed YAML at line"):
        load_profile(write(tmp_path, BASE + "mix: {ChatUser: 1\n"))


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"available: .*smoke"):
        load_profile("no-such-profile")


def test_unknown_user_class(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown user class 'Chatter'"):
        load_profile(write(tmp_path, BASE + "mix: {Chatter: 1}\n"))


def test_slo_overrides_and_drops(tmp_path: Path) -> None:
    profile = load_profile(
        write(tmp_path, BASE + "slos:\n  override: {http_p95: {threshold: 300}}\n  drop: [availability]\n")
    )
    by_name = {slo.name: slo for slo in profile.slos}
    assert by_name["http_p95"].threshold == 300 and "availability" not in by_name
    with pytest.raises(ConfigError, match="no default SLO named 'nope'"):
        load_profile(write(tmp_path, BASE + "slos:\n  drop: [nope]\n"))
