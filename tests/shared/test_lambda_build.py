"""What `sam build` puts in every zip function: the service folders, precompiled.

The template builds each zip function with `services/Makefile` (Metadata BuildMethod
makefile). Its `code` step copies shared, segmenter, messenger and feedback (never the
operator's tooling in ops/) and compiles them to `unchecked-hash` bytecode: Lambda's code
folder is read-only, so without bytecode every cold start compiles the project from
source, and timestamp bytecode would be checked against a zip's two-second file times.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import botocore

from ops.local.template import functions, load_template
from shared import aws
from tests.conftest import TEMPLATE

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "services"
SERVICE_FOLDERS = {"shared", "segmenter", "messenger", "feedback", "console"}

IMPORT_FROM_THE_PACKAGE = """
import importlib, sys
package = sys.argv[1]
# The package instead of the working tree (the editable install puts services/ on the path).
sys.path[:] = [package] + [p for p in sys.path if not p.rstrip("/").endswith("services")]
sys.dont_write_bytecode = False
for module in sys.argv[2:]:
    loaded = importlib.import_module(module)
    assert loaded.__file__.startswith(package), loaded.__file__
try:
    import ops
except ImportError:
    print("no ops")
"""


def _build_code(artifacts: Path) -> None:
    subprocess.run(
        ["make", "--no-print-directory", "-C", str(SERVICES), "code", f"ARTIFACTS_DIR={artifacts}"],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHON": sys.executable},
    )


def test_every_zip_function_is_built_by_the_makefile() -> None:
    """Given the template's zip functions
    When their build method and the Makefile's targets are read
    Then each is built by `services/Makefile`, which has its `build-<LogicalId>` target."""
    template = load_template(TEMPLATE)
    zips = [s.logical_id for s in functions(template) if not s.image]
    assert len(zips) == 8
    makefile = (SERVICES / "Makefile").read_text(encoding="utf-8")
    for logical_id in zips:
        resource = template["Resources"][logical_id]
        assert resource["Metadata"]["BuildMethod"] == "makefile", logical_id
        assert resource["Properties"]["CodeUri"] == "../services/", logical_id
        assert logical_id in makefile, logical_id
    assert re.search(r"compileall .*--invalidation-mode unchecked-hash", makefile)


def test_the_package_holds_the_services_precompiled_and_no_operator_tooling(
    tmp_path: Path,
) -> None:
    """Given the Makefile's `code` step run into an empty folder
    When the package is read
    Then it holds the service folders and not ops/, botocore's data trimmed for the
    clients' services, written by this botocore, every module has unchecked-hash
    bytecode, and every handler imports from it without writing any bytecode."""
    artifacts = tmp_path / "package"
    _build_code(artifacts)
    assert {p.name for p in artifacts.iterdir()} == SERVICE_FOLDERS
    data = artifacts / "shared" / aws.DATA.name
    assert (data / aws.DATA_VERSION_FILE).read_text(encoding="utf-8") == botocore.__version__
    assert {p.name for p in (data / aws.MODELS_FOLDER).iterdir()} == aws.SERVICES
    sources = sorted(artifacts.rglob("*.py"))
    assert len(sources) > 100
    for source in sources:
        compiled = Path(importlib.util.cache_from_source(str(source)))
        flags = int.from_bytes(compiled.read_bytes()[4:8], "little")
        assert flags == 0b01, f"{source.relative_to(artifacts)}: not unchecked-hash"
    before = {p: p.stat().st_mtime_ns for p in artifacts.rglob("*.pyc")}
    # When every zip handler is imported from the package (as Lambda does)
    modules = sorted({s.module for s in functions(load_template(TEMPLATE)) if not s.image})
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_FROM_THE_PACKAGE, str(artifacts), *modules],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    # Then it needs nothing from ops/ (absent) and compiles nothing anew
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "no ops"
    assert {p: p.stat().st_mtime_ns for p in artifacts.rglob("*.pyc")} == before
