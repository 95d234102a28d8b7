"""Start the synthetic server in its own process and talk to its admin endpoints."""

import json
import subprocess
import sys
from dataclasses import asdict
from typing import Any

import requests

from tushare_double.app import ServerConfig


class ServerProcess:
    """A running synthetic Tushare server; use as a context manager or call `stop()`."""

    def __init__(self, config: ServerConfig | None = None, port: int = 0):
        self.config = config or ServerConfig()
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tushare_double",
                "--port",
                str(port),
                "--config",
                json.dumps(asdict(self.config)),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self._process.stdout.readline().strip()
        if not line.startswith("listening "):
            self.stop()
            raise RuntimeError(f"synthetic Tushare server did not start: {line!r}")
        self.url = line.removeprefix("listening ")
        self.base = self.url.removesuffix("/dataapi")

    @property
    def token(self) -> str:
        return next(iter(self.config.tokens))

    def configure(self, **changes: Any) -> None:
        response = requests.post(f"{self.base}/_admin/config", json=changes, timeout=10)
        response.raise_for_status()

    def stats(self) -> dict[str, Any]:
        return requests.get(f"{self.base}/_admin/stats", timeout=10).json()

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        if self._process.stdout:
            self._process.stdout.close()

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
