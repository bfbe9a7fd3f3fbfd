"""Loading specs/vectors/ and the script that generates them, for the tests."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "specs" / "vectors"


def load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text("utf-8"))


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_vectors", ROOT / "scripts/make_vectors.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
