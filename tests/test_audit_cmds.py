"""`intentcast audit` and `audit verify` on a real store file, tampered with by hand."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from intentcast.agents.store import audit
from intentcast.agents.store.db import Store
from intentcast.protocol.encoding import encode

pytestmark = pytest.mark.e2e

VENDOR = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"


def cli(home, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "intentcast.agents.cli",
                           "--home", str(home), *args],
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def home(tmp_path):
    store = Store(tmp_path / "store.sqlite")
    with store.transaction() as db:
        audit.append(db, at=100, kind="intent_sent", data={"intent_id": "intent-0001"})
        audit.append(db, at=110, kind="agreement_signed",
                     data={"agreement_id": "agreement-1", "vendor": VENDOR,
                           "price": {"amount": 18_500, "currency": "EUR"}})
        audit.append(db, at=120, kind="disclosed",
                     data={"agreement_id": "agreement-1", "vendor": VENDOR,
                           "fields": ["shipping_address"], "purposes": ["delivery"]})
        audit.append(db, at=130, kind="attribute_set", data={"name": "email"})
    store.close()
    return tmp_path


def _tamper(home, sql: str, *params) -> None:
    db = sqlite3.connect(home / "store.sqlite")
    db.execute(sql, params)
    db.commit()
    db.close()


def test_an_intact_log_verifies(home):
    result = cli(home, "audit", "verify")
    assert result.returncode == 0, result.stderr
    assert "intact: 4 entries" in result.stdout


@pytest.mark.parametrize(("sql", "params", "first"), [
    ("UPDATE audit SET data = ? WHERE seq = 2",
     (encode({"agreement_id": "agreement-1", "vendor": VENDOR,
              "price": {"amount": 1, "currency": "EUR"}}),), 2),
    ("DELETE FROM audit WHERE seq = 3", (), 4),
    ("UPDATE audit SET kind = 'nothing' WHERE seq = 1", (), 1),
    ("UPDATE audit SET at = 999 WHERE seq = 4", (), 4),
])
def test_tampering_is_found_at_the_first_broken_entry(home, sql, params, first):
    _tamper(home, sql, *params)
    result = cli(home, "--json", "audit", "verify")
    assert result.returncode == 1
    assert json.loads(result.stdout)["first_broken"] == first
    assert f"entry {first} " in cli(home, "audit", "verify").stdout


def test_the_log_is_shown_per_party(home):
    result = cli(home, "audit")
    assert result.returncode == 0, result.stderr
    mine, _, theirs = result.stdout.partition("did:key:")
    assert "intent_sent" in mine
    assert "attribute_set" in mine
    assert "agreement_signed" in theirs
    assert "fields=['shipping_address']" in theirs
    only = json.loads(cli(home, "--json", "audit", "--party", VENDOR).stdout)
    assert [e["seq"] for e in only] == [2, 3]


def test_a_home_that_does_not_exist_is_one_clear_line(tmp_path):
    result = cli(tmp_path / "nowhere", "audit", "verify")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "not initialised" in result.stderr
