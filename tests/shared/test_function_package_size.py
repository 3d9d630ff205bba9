"""Every function's package stays under Lambda's limits.

`sam build` installs `services/requirements.txt` into each zip function (one CodeUri), so
each zip package is the code plus every base requirement with its own dependencies: it must
stay under Lambda's 250 MB unzipped limit. The AnalyticsFunction is a container image
(infra/analytics.Dockerfile) holding `services/requirements-analytics.txt` too, DuckDB and
scipy among them: under Lambda's 10 GB image limit. Installed sizes are read from the
wheels' RECORD files of this environment (x86_64; the arm64 wheels Lambda gets are of the
same order)."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ops.local.template import functions, load_template
from tests.conftest import TEMPLATE

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "services"
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
LAMBDA_IMAGE_LIMIT = 10 * 1024 * 1024 * 1024
ALREADY_IN_THE_RUNTIME = {"boto3", "botocore", "s3transfer", "jmespath"}
"""The python3.12 runtime ships these; sam build still copies them, so they are counted."""
IMAGE_ONLY = {"duckdb", "pyarrow", "scipy", "threadpoolctl"}


def requirement_names(path: Path) -> list[str]:
    """The names a requirements file pins, following `-r other.txt` includes."""
    names: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r"):
            names += requirement_names(path.parent / line.removeprefix("-r").strip())
        else:
            names.append(canonicalize_name(Requirement(line).name))
    return names


def _closure(names: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for raw in metadata.requires(name) or []:
            req = Requirement(raw)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def _installed_bytes(name: str) -> int:
    files = metadata.distribution(name).files or []
    return sum(f.size or 0 for f in files)


def _code_bytes() -> int:
    return sum(p.stat().st_size for p in SERVICES.rglob("*") if p.is_file())


def test_each_zip_function_package_is_under_the_lambda_limit() -> None:
    # Given the requirements sam build installs into every zip function
    specs = functions(load_template(TEMPLATE))
    zips = [s.logical_id for s in specs if not s.image]
    assert len(zips) == 8
    deps = _closure(requirement_names(SERVICES / "requirements.txt"))
    # When their installed sizes (with dependencies) and the code are added up
    total = sum(_installed_bytes(n) for n in deps) + _code_bytes()
    # Then each zip package is under 250 MB, with room for the arm64 wheels' differences
    assert total < LAMBDA_UNZIPPED_LIMIT * 0.8, f"{total / 2**20:.0f} MiB"
    # And none of the analytics function's heavy dependencies is in it
    assert not deps & IMAGE_ONLY, sorted(deps & IMAGE_ONLY)


def test_the_analytics_image_holds_duckdb_and_scipy_under_the_image_limit() -> None:
    # Given the one image function and the requirements its Dockerfile installs
    (image,) = [s for s in functions(load_template(TEMPLATE)) if s.image]
    assert image.logical_id == "AnalyticsFunction"
    deps = _closure(requirement_names(SERVICES / "requirements-analytics.txt"))
    # When they are added up with the code
    total = sum(_installed_bytes(n) for n in deps) + _code_bytes()
    # Then DuckDB and scipy are there, every base requirement too, under 10 GB
    assert deps >= IMAGE_ONLY
    assert _closure(requirement_names(SERVICES / "requirements.txt")) <= deps
    assert total < LAMBDA_IMAGE_LIMIT, f"{total / 2**20:.0f} MiB"
    # And the reason it is an image holds: as a zip it would pass 250 MB
    assert total > LAMBDA_UNZIPPED_LIMIT * 0.8, f"{total / 2**20:.0f} MiB"


def test_the_dockerfile_builds_what_the_template_runs() -> None:
    # Given the template's image function and its Dockerfile
    template = load_template(TEMPLATE)
    resource = template["Resources"]["AnalyticsFunction"]
    meta, props = resource["Metadata"], resource["Properties"]
    context = (TEMPLATE.parent / meta["DockerContext"]).resolve()
    dockerfile = (context / meta["Dockerfile"]).read_text(encoding="utf-8")
    # Then the base image is Lambda's python3.12 for the template's architecture
    (arch,) = template["Globals"]["Function"]["Architectures"]
    assert re.search(rf"^FROM public\.ecr\.aws/lambda/python:3\.12-{arch}$", dockerfile, re.M)
    assert {p.get("Runtime") for p in _zip_properties(template)} == {"python3.12"}
    # And it installs the analytics requirements and copies the zip functions' code folder
    assert "-r /tmp/requirements/requirements-analytics.txt" in dockerfile
    assert "COPY services/requirements.txt services/requirements-analytics.txt" in dockerfile
    assert re.search(r"^COPY services/ \$\{LAMBDA_TASK_ROOT\}/$", dockerfile, re.M)
    assert context == ROOT
    # And its default command is the template's
    (command,) = props["ImageConfig"]["Command"]
    assert f'CMD ["{command}"]' in dockerfile
    # And the build context sends services/ only (not .venv)
    ignore = (context / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "*" in ignore and "!services/" in ignore


def _zip_properties(template: dict[str, object]) -> list[dict[str, object]]:
    resources = template["Resources"]
    assert isinstance(resources, dict)
    return [
        r["Properties"]
        for r in resources.values()
        if r.get("Type") == "AWS::Serverless::Function"
        and r["Properties"].get("PackageType") != "Image"
    ]


BLOCK_IMAGE_ONLY = """
import importlib, sys
class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError(name + " is not in the zip package")
        return None
sys.meta_path.insert(0, Absent())
for module in {modules!r}:
    importlib.import_module(module)
"""


def test_the_zip_functions_import_without_the_image_only_dependencies() -> None:
    # Given every zip function's handler module, and an interpreter without DuckDB or scipy
    modules = sorted({s.module for s in functions(load_template(TEMPLATE)) if not s.image})
    modules.append("segmenter.services.segments")  # the nightly recompute, numpy only
    code = BLOCK_IMAGE_ONLY.format(blocked=sorted(IMAGE_ONLY), modules=modules)
    # When they are imported / Then none of them needs what only the image holds
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=SERVICES, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
