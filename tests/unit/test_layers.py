"""The layers' dependencies point one way: a service's domain imports no driver or framework
(not even through the chassis), and no service imports another (they share only the
contracts and the chassis)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

SERVICES = ["billing", "consent", "incidents", "privacy", "referrals", "scheduling", "statutory"]
DRIVERS = ("asyncpg", "aiokafka", "faststream", "fastapi", "starlette", "uvicorn", "httpx")
ROOT = Path(__file__).resolve().parents[2]


def domain_modules(service: str) -> list[str]:
    package = importlib.import_module(f"eps_{service}.domain")
    return [f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)]


@pytest.mark.parametrize("service", SERVICES)
def test_a_domain_imports_no_driver_or_framework(service: str) -> None:
    modules = domain_modules(service)
    assert modules
    # a fresh interpreter: this one has imported every driver already
    probe = "".join(f"import {m}\n" for m in modules) + (
        f"import sys\nprint(sorted({{k.split('.')[0] for k in sys.modules}} & set({DRIVERS!r})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]", f"eps_{service}.domain loads {loaded}"


@pytest.mark.parametrize("service", SERVICES)
def test_no_service_imports_another(service: str) -> None:
    others = {f"eps_{s}" for s in SERVICES if s != service}
    found = []
    for path in (ROOT / "services" / service / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            found += [f"{path.name}: {n}" for n in names if n.split(".")[0] in others]
    assert found == []
