"""``python -m reference_backend --config settings.json [--port-file PATH]``.

The config file holds no secrets: the JWT secret and the pool password come from the environment
(``LOADBENCH_JWT_SECRET``, ``LOADBENCH_USER_PASSWORD``) so they never appear on a command line or disk.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

from reference_backend.server import serve
from reference_backend.settings import BackendSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference_backend", description=__doc__)
    parser.add_argument("--config", type=Path, required=True, help="settings as JSON (BackendSettings)")
    parser.add_argument("--port-file", type=Path, help="where to write the bound port once listening")
    parser.add_argument("--parent-pid", type=int, help="stop when this process (the run) goes away")
    parser.add_argument(
        "--workdir", type=Path, help="the folder made for this process (config, port file, log): removed if orphaned"
    )
    args = parser.parse_args(argv)
    settings = BackendSettings.model_validate(json.loads(args.config.read_text()))
    workdir = args.workdir

    def orphaned() -> None:  # the parent that would have removed the folder is gone: its last act falls to us
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)

    serve(
        settings.with_secrets_from(os.environ),
        port_file=args.port_file,
        parent_pid=args.parent_pid,
        on_orphaned=orphaned,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
