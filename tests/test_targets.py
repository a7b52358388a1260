from __future__ import annotations

import pytest

from loadtests.errors import ConfigError
from loadtests.targets import check_url, is_loopback, plan_targets


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["10.0.0.1", "8.8.8.8", "example.invalid"])
def test_not_loopback(host: str) -> None:
    assert not is_loopback(host)


def test_remote_url_refused_unless_named() -> None:
    with pytest.raises(ConfigError, match=r"--allow-remote 10\.1\.2\.3"):
        check_url("http://10.1.2.3:5000", flag="--green-url")
    assert check_url("http://10.1.2.3:5000/", allow_remote=("10.1.2.3",)) == "http://10.1.2.3:5000"


@pytest.mark.parametrize("url", ["ftp://127.0.0.1", "127.0.0.1:8000", "http://", "http://127.0.0.1:99999"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        check_url(url)


def test_credentials_in_url_refused() -> None:
    with pytest.raises(ConfigError, match="credentials"):
        check_url("http://admin:pw@127.0.0.1:8000")


def test_plan() -> None:
    plans = plan_targets("both", {"green": "http://127.0.0.1:5000"})
    assert [(p.color, p.url) for p in plans] == [("blue", None), ("green", "http://127.0.0.1:5000")]
    with pytest.raises(ConfigError, match="does not drive blue"):
        plan_targets("green", {"blue": "http://127.0.0.1:8000"})
