"""Fixtures every test module may use: trio's autojump clock and a cluster of real processes.

Shared values (keys, NOW, terms) live in tests/parties.py; helpers in agent_harness.py
(in-process agents), e2e.py (processes) and vector_files.py. No test module imports another.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trio.testing
from e2e import Cluster


@pytest.fixture
def autojump() -> trio.testing.MockClock:
    """Virtual time: a 10-second timeout passes at once when every task is waiting."""
    return trio.testing.MockClock(autojump_threshold=0)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """Agents as separate OS processes on 127.0.0.1, all stopped at the end of the test."""
    c = Cluster(tmp_path)
    yield c
    c.close()
