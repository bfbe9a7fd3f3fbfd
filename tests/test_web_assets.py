"""The page's files: each one is package data (an installed wheel serves the page), each one
the daemon serves, and each script imports only files that exist."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

from intentcast.agents.person.api.web import TYPES, assets

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "agents" / "person" / "web"


def _files() -> list[str]:
    return sorted(str(p.relative_to(ROOT / "agents")) for p in WEB.rglob("*") if p.is_file())


def test_every_file_of_the_page_is_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["intentcast.agents"]
    missing = [f for f in _files() if not any(fnmatch.fnmatch(f, p) for p in patterns)]
    assert missing == []


def test_the_daemon_serves_every_file_of_the_page():
    served = set(assets())
    expected = {"/"} | {f"/page/{f.removeprefix('person/web/')}" for f in _files()
                        if Path(f).suffix in TYPES and not f.endswith("index.html")}
    assert served == expected


def test_every_import_names_a_file_of_the_page():
    broken = []
    for script in WEB.rglob("*.js"):
        for target in re.findall(r'from "(\.{1,2}/[^"]+)"', script.read_text("utf-8")):
            if not (script.parent / target).resolve().is_file():
                broken.append(f"{script.relative_to(WEB)} imports {target}")
    assert broken == []
