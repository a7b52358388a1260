"""Nothing leaked: the password, the JWT secret and every token stay out of the run directory,
the logs, the HTML report and the terminal."""

from __future__ import annotations

from pathlib import Path

import pytest
from battery_helpers import loadbench

pytestmark = pytest.mark.e2e

PASSWORD = "pw-Zq8rT4vXw2"  # unique strings a scan can find
SECRET = "jwt-secret-Km3nB7pQ9sL1"
PROFILE = """\
version: 1
name: secrets
duration_s: 4
users: 6
spawn_rate: 6
health_probe_s: 0.5
mix: {ChatUser: 3, UploaderUser: 1, AgentRunnerUser: 1, AdminReader: 1}
chat: {think_time_s: [0.1, 0.3]}
uploader: {think_time_s: [0.1, 0.3], sizes_kb: [2]}
agents: {think_time_s: [0.1, 0.3]}
admin: {think_time_s: [0.1, 0.3]}
"""


@pytest.mark.parametrize("mode", ["password", "mint"])
def test_no_secret_in_any_output(mode: str, tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(PROFILE + f"auth: {{mode: {mode}}}\n")
    out = tmp_path / "run"
    result = loadbench(
        "run", "--profile", str(profile), "--out", str(out),
        env={"LOADBENCH_USER_PASSWORD": PASSWORD, "LOADBENCH_JWT_SECRET": SECRET},
    )  # fmt: skip
    assert result.code in (0, 1, 3), result.stderr[-2000:]
    files = [path for path in out.rglob("*") if path.is_file()]
    assert any(path.name == "report.html" for path in files) and any(path.suffix == ".png" for path in files)
    leaks = []
    for path in files:
        content = path.read_bytes()
        for secret in (PASSWORD.encode(), SECRET.encode(), b"eyJhbGciOi", b"eyJ0eXAiOi"):
            if secret in content:
                leaks.append(f"{path.relative_to(out)}: {secret[:6]!r}…")
    for stream in (result.stdout, result.stderr):
        for secret in (PASSWORD, SECRET, "eyJhbGciOi"):
            assert secret not in stream
    assert not leaks, leaks
    assert len(files) >= 10  # the scan looked at a real run directory
