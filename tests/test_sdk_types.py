"""The SDK's `on(...)` is typed per event: mypy --strict refuses a handler of the wrong type."""

from __future__ import annotations

from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parent.parent

GOOD = '''
from intentcast.agents.assistant import Assistant, IntentInfo, Offer

helper = Assistant()

@helper.on("offer")
async def offered(offer: Offer) -> None:
    await offer.reject("no")

@helper.on("expiring")
async def expiring(intent: IntentInfo) -> None:
    print(intent.id)
'''

BAD = '''
from intentcast.agents.assistant import Assistant, IntentInfo

helper = Assistant()

@helper.on("offer")
async def offered(offer: IntentInfo) -> None:
    print(offer.id)
'''


def _mypy(tmp_path: Path, name: str, source: str) -> tuple[str, int]:
    module = tmp_path / f"{name}.py"
    module.write_text(source)
    out, err, status = api.run(["--strict", "--cache-dir", str(tmp_path / "cache"),
                                "--config-file", str(ROOT / "pyproject.toml"), str(module)])
    return out + err, status


def test_a_handler_of_the_right_type_passes_and_the_wrong_one_is_refused(tmp_path, monkeypatch):
    # mypy cannot follow the editable install; it reads the package through a link, as
    # `make lint` does.
    (tmp_path / "link").mkdir()
    (tmp_path / "link" / "intentcast").symlink_to(ROOT)
    monkeypatch.setenv("MYPYPATH", str(tmp_path / "link"))
    out, status = _mypy(tmp_path, "good", GOOD)
    assert status == 0, out
    out, status = _mypy(tmp_path, "bad", BAD)
    assert status == 1, out
    assert "bad.py:6: error: Argument 1 has incompatible type" in out
