"""Running the project the way users do: a DAGSTER_HOME holding the repo's dagster.yaml, the settings
in environment variables, and the real `dagster asset materialize` CLI."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MATERIALIZE = [str(BIN / "dagster"), "asset", "materialize", "-m", "stock_pipeline"]


def dagster_home(parent: Path, config: Path = REPO / "dagster.yaml") -> Path:
    home = parent / "dagster_home"
    home.mkdir()
    shutil.copy(config, home / "dagster.yaml")
    return home


def project_env(home: Path, api_url: str, token: str, warehouse_url: str, **extra: str) -> dict[str, str]:
    return (
        os.environ
        | {
            "DAGSTER_HOME": str(home),
            "TUSHARE_TOKEN": token,
            "TUSHARE_API_URL": api_url,
            "STOCK_PIPELINE_DB_URL": warehouse_url,
            "STOCK_PIPELINE_START_DATE": "2024-01-02",
        }
        | extra
    )


def materialize(env: dict[str, str], *args: str, succeed: bool = True, timeout: float = 300) -> str:
    """Run the CLI; assert it succeeded (or failed), and return everything it printed."""
    done = subprocess.run([*MATERIALIZE, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    output = done.stdout + done.stderr
    assert (done.returncode == 0) == succeed, output[-3000:]
    return output
