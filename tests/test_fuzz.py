"""The fuzz harness (tests/fuzz): every target in a short bounded run, and the harness itself.

The fast tests feed each target its seeds and a few hundred structure-aware mutations in
this process, and check the mutations get past the signature check (else the schema step
is never fuzzed). The e2e tests run the real runner, atheris in one process per target:
a short pass of every target (`make fuzz` runs them longer), and a planted bug that must
fail the run with its input saved as hex and replayable.
"""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from fuzz.targets import TARGETS, feed

from intentcast.protocol.envelope import open as open_envelope
from intentcast.protocol.errors import IntentcastError, Reason

RUNNER = Path(__file__).resolve().parent / "fuzz" / "run.py"
SECONDS_PER_TARGET = 2


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_every_target_takes_its_seeds_and_mutations_without_a_crash(name: str) -> None:
    target = TARGETS[name]
    seeds = list(target.seeds())
    assert seeds, f"{name} has no seed"
    rng = random.Random(name)
    inputs = list(seeds)
    for _ in range(150):
        mutated = target.mutate(rng.choice(inputs), rng)
        if mutated is not None:
            inputs.append(mutated)
    assert len(inputs) > len(seeds) + 100, "the mutator gives up on its own seeds"
    for data in inputs:
        feed(target, data)


def test_structured_mutations_of_envelopes_get_past_the_signature() -> None:
    # Re-signing is what lets a mutation reach the schema: count where mutants stop.
    target = TARGETS["envelope_open"]
    rng = random.Random(7)
    seeds = [s for s in target.seeds() if len(s) < 60_000]
    stops: Counter[str] = Counter()
    for _ in range(400):
        mutated = target.mutate(rng.choice(seeds), rng)
        if mutated is None:
            continue
        try:
            open_envelope(mutated, now=1_800_000_060)
            stops["opened"] += 1
        except IntentcastError as exc:  # bad_did comes from the schema step too
            stops[exc.reason.value] += 1
    past_signature = sum(n for r, n in stops.items() if r not in {
        Reason.TOO_LARGE, Reason.MALFORMED_CBOR, Reason.BAD_STRUCTURE, Reason.BAD_ALGORITHM,
        Reason.UNKNOWN_CRITICAL_HEADER, Reason.BAD_SIGNATURE, Reason.TRAILING_BYTES,
        Reason.DUPLICATE_KEY, Reason.INDEFINITE_LENGTH, Reason.TOO_DEEP})
    assert past_signature > 100, stops
    assert stops[Reason.BAD_SCHEMA.value] > 20, stops


def _run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(RUNNER), *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd, env=env, check=False)


@pytest.mark.e2e
@pytest.mark.fuzz
def test_every_target_survives_a_short_bounded_run(tmp_path: Path) -> None:
    done = _run("--seconds", str(SECONDS_PER_TARGET), "--jobs", "2", "--dir", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    for name in TARGETS:
        line = next(x for x in done.stdout.splitlines() if x.startswith(name + " "))
        assert " ok " in line, line
        assert int(line.split()[2]) > 0, f"{name} ran no input: {line}"
    assert f"{len(TARGETS)} passed, 0 failed" in done.stdout


PLANTED = '''
import time

from fuzz.targets import Target, feed  # noqa: F401 (the runner calls feed)

def crash(data: bytes) -> None:
    if data.startswith(b"BUG"):
        raise IndexError("the planted bug")

def crawl(data: bytes) -> None:
    if data.startswith(b"BUG"):  # a decoder that spins for 0.5 s on a few bytes
        end = time.process_time() + 0.5
        while time.process_time() < end:
            pass

def mutate(data, rng):
    return b"BUG" + data if rng.random() < 0.5 else None

TARGETS = {t.name: t for t in [Target("crash", crash, lambda: [b"hello"], mutate),
                               Target("crawl", crawl, lambda: [b"hello"], mutate)]}
'''


@pytest.mark.e2e
@pytest.mark.fuzz
def test_a_crash_or_a_slow_input_fails_the_run_with_the_input_saved_as_hex(tmp_path: Path):
    (tmp_path / "planted_targets.py").write_text(textwrap.dedent(PLANTED))
    env = {**_environ(), "PYTHONPATH": str(tmp_path)}
    done = _run("--seconds", "30", "--jobs", "2", "--dir", str(tmp_path / "work"),
                "--slow-seconds", "0.2", "--targets-module", "planted_targets", env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0 passed, 2 failed" in done.stdout, done.stdout
    saved = {Path(p).name.split("-")[0]: Path(p) for p in (
        line.split()[2] for line in done.stdout.splitlines()
        if line.strip().startswith("crash input:"))}
    assert set(saved) == {"crash", "crawl"}, done.stdout
    for path in saved.values():
        assert bytes.fromhex(path.read_text()).startswith(b"BUG")
    assert "IndexError: the planted bug" in saved["crash"].with_suffix(".txt").read_text()
    assert "SlowInput" in saved["crawl"].with_suffix(".txt").read_text()
    # The saved input replays the crash, as a regression test would.
    again = _run("--replay", str(saved["crash"]), "--targets-module", "planted_targets",
                 env=env)
    assert again.returncode == 1
    assert "IndexError: the planted bug" in again.stderr


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)
