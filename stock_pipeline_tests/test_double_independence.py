"""The Tushare double and the pipeline stay out of each other's import paths (issue 8, item 1).

Each check runs in a fresh interpreter, so modules imported by other tests cannot hide an import.
"""

import json
import pkgutil
import subprocess
import sys

import stock_pipeline
import tushare_double


def _modules(package) -> list[str]:
    return [package.__name__] + [
        module.name for module in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}.")
    ]


def _loaded_after_importing(modules: list[str]) -> set[str]:
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    return set(json.loads(output.splitlines()[-1]))


def _top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_the_double_loads_nothing_of_the_pipeline():
    loaded = _top_level(_loaded_after_importing(_modules(tushare_double)))
    assert "tushare_double" in loaded and "stock_pipeline" not in loaded


def test_the_pipeline_loads_neither_the_double_nor_its_numpy():
    # Dagster itself does not import numpy (checked when this test was written), so numpy here would be ours.
    # The export tool (`stock_pipeline.export`) writes its files with numpy and pyarrow by design; the code
    # location, whose sync steps never need them, must not load it.
    modules = [name for name in _modules(stock_pipeline) if not name.startswith("stock_pipeline.export")]
    loaded = _top_level(_loaded_after_importing(modules))
    assert "stock_pipeline" in loaded and not {"tushare_double", "numpy"} & loaded


def test_the_export_tool_loads_nothing_of_the_double():
    loaded = _top_level(_loaded_after_importing(_modules(stock_pipeline)))
    assert "tushare_double" not in loaded
