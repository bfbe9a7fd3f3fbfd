"""Run the fuzz targets with atheris (libFuzzer), each for a bounded time.

    python tests/fuzz/run.py                       # every target, FUZZ_SECONDS each
    python tests/fuzz/run.py cose frames --seconds 600
    python tests/fuzz/run.py --replay build/fuzz/crashes/cose-0123456789ab.hex
    python tests/fuzz/run.py --list

Each target runs in a process of its own (libFuzzer owns the process until it is
done), FUZZ_JOBS at a time, with the intentcast package instrumented for coverage.
A crash is any exception but the target's own errors, an input (at most 64 KiB)
that takes more than FUZZ_SLOW_SECONDS of CPU time twice in a row (so neither a
busy machine nor a pause is one), or one that takes the process past FUZZ_RSS_MB.
Its input is saved as hex to FUZZ_DIR/crashes/<target>-<sha1>.hex, the path
printed, and the run fails: replay it with --replay, then paste the hex into
tests/test_fuzz_regressions.py with the fix.

Settings (environment, or the options of the same name):
    FUZZ_SECONDS  seconds per target (20)       FUZZ_JOBS     targets at once (2)
    FUZZ_DIR      work folder (build/fuzz): the corpus grows there from run to run
    FUZZ_MAX_LEN  largest input generated (16384)
    FUZZ_SLOW_SECONDS (1.0)                      FUZZ_RSS_MB   (1024)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import resource
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE.parent))  # tests/: parties, vector_files and this package

class SlowInput(Exception):
    """A decoder took pathologically long on a small input."""


class MemoryHog(Exception):
    """A decoder took the process's memory past FUZZ_RSS_MB on one input."""


def _setting(name: str, default: str) -> str:
    return os.environ.get(name) or default


def _options(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("targets", nargs="*", help="target names (default: all)")
    p.add_argument("--seconds", type=int, default=int(_setting("FUZZ_SECONDS", "20")))
    p.add_argument("--jobs", type=int, default=int(_setting("FUZZ_JOBS", "2")))
    p.add_argument("--dir", type=Path, default=Path(_setting("FUZZ_DIR", str(ROOT / "build/fuzz"))))
    p.add_argument("--max-len", type=int, default=int(_setting("FUZZ_MAX_LEN", "16384")))
    p.add_argument("--slow-seconds", type=float,
                   default=float(_setting("FUZZ_SLOW_SECONDS", "1.0")))
    p.add_argument("--rss-mb", type=int, default=int(_setting("FUZZ_RSS_MB", "1024")))
    p.add_argument("--targets-module", default="fuzz.targets",
                   help="where TARGETS lives (the runner's own tests use another)")
    p.add_argument("--list", action="store_true", help="print the targets and exit")
    p.add_argument("--replay", type=Path, help="run one saved .hex input and report")
    p.add_argument("--child", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _targets(module: str) -> Any:
    import importlib

    return importlib.import_module(module)


# ------------------------------------------------------------------ saving a crash


def save_crash(workdir: Path, name: str, data: bytes, why: str) -> Path:
    """Write the input as hex (and why it crashed beside it); return the .hex path."""
    folder = workdir / "crashes"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{hashlib.sha1(data).hexdigest()[:12]}.hex"
    path.write_text(data.hex() + "\n")
    path.with_suffix(".txt").write_text(why)
    return path


def _cpu_seconds(feed: Any, target: Any, data: bytes) -> float:
    """CPU time of one input: other processes on a busy machine do not count."""
    start = time.process_time()
    feed(target, data)
    return time.process_time() - start


# ------------------------------------------------------------------ one target (child)


def _dictionary(path: Path) -> None:
    """libFuzzer dictionary: CBOR heads of tags and COSE arrays, the decoders' map keys."""
    from fuzz import corpus

    def cbor_text(s: str) -> bytes:
        import cbor2

        return bytes(cbor2.dumps(s))

    tokens = [bytes.fromhex(h) for h in (
        "d2", "d862", "84", "83", "a0", "40", "f6", "f4", "f5", "f7", "f93c00", "c0", "c1",
        "c2", "c3", "c4", "c5", "d818", "d819", "d81c", "d81d", "d81e", "d823", "d825",
        "d90100", "d90102", "d9d9f7", "9f", "bf", "ff", "5f", "7f", "1b", "3b", "a20127",
        "0458", "808004", "ffff03", "8000")]
    tokens += [cbor_text(s) for s in [*corpus.field_names(), *corpus.message_types(),
                                      "EUR", "Signature1"]]
    path.write_text("".join(
        '"' + "".join(f"\\x{b:02x}" for b in t) + '"\n' for t in tokens))


def child(opts: argparse.Namespace) -> None:
    import atheris

    with atheris.instrument_imports(include=["intentcast"]):
        module = _targets(opts.targets_module)
    target = module.TARGETS[opts.child]
    name, workdir = target.name, opts.dir
    seeds_dir = workdir / "corpus" / name
    seeds_dir.mkdir(parents=True, exist_ok=True)
    for seed in target.seeds():
        (seeds_dir / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
    artifacts = workdir / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    dictionary = workdir / "cbor.dict"
    _dictionary(dictionary)
    rss_limit_kb = opts.rss_mb * 1024

    def crash(data: bytes, why: str) -> None:
        path = save_crash(workdir, name, data, why)
        print(f"\nFUZZ CRASH in {name}: {why.strip().splitlines()[-1]}\n"
              f"FUZZ INPUT SAVED TO {path}", file=sys.stderr, flush=True)

    def one_input(data: bytes) -> None:
        try:
            took = _cpu_seconds(module.feed, target, data)
        except BaseException:
            crash(data, traceback.format_exc())
            raise
        if took > opts.slow_seconds:
            again = _cpu_seconds(module.feed, target, data)
            if again > opts.slow_seconds:
                why = f"SlowInput: {len(data)} bytes took {took:.2f} s then {again:.2f} s"
                crash(data, why + "\n")
                raise SlowInput(why)
        if resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > rss_limit_kb:
            why = f"MemoryHog: {len(data)} bytes took the process past {opts.rss_mb} MB"
            crash(data, why + "\n")
            raise MemoryHog(why)

    def mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if rng.random() < 0.5:
            try:
                out = target.mutate(data, rng)
            except Exception:  # a bug of the mutator is not the decoder's: mutate bytes instead
                out = None
            if out is not None and len(out) <= max_size:
                return bytes(out)
        return bytes(atheris.Mutate(data, max_size))

    atheris.Setup([
        sys.argv[0], str(seeds_dir),
        f"-max_total_time={opts.seconds}", f"-max_len={opts.max_len}", "-timeout=10",
        f"-rss_limit_mb={2 * opts.rss_mb}", "-print_final_stats=1",
        f"-artifact_prefix={artifacts}/{name}-", f"-dict={dictionary}",
    ], one_input, custom_mutator=mutator)
    atheris.Fuzz()


# ------------------------------------------------------------------ all targets (parent)


@dataclass
class Outcome:
    name: str
    ok: bool
    execs: int | None
    per_second: int | None
    crashes: list[Path]
    log: Path
    note: str = ""


def _stat(text: str, key: str) -> int | None:
    found = re.search(rf"stat::{key}:\s+(\d+)", text)
    return int(found.group(1)) if found else None


def _collect(opts: argparse.Namespace, name: str, log: Path, code: int | None,
             since: float) -> Outcome:
    text = log.read_text(errors="replace")
    crashes = [Path(p) for p in re.findall(r"FUZZ INPUT SAVED TO (\S+)", text)]
    # libFuzzer's own artifacts (a timeout, out of memory) become hex files too.
    for raw in sorted((opts.dir / "artifacts").glob(f"{name}-*")):
        if raw.stat().st_mtime >= since and raw.suffix != ".hex":
            kind = raw.name[len(name) + 1:].split("-")[0]
            data = raw.read_bytes()
            hexpath = opts.dir / "crashes" / f"{name}-{hashlib.sha1(data).hexdigest()[:12]}.hex"
            if not hexpath.exists():  # else one_input saved it, with its traceback
                save_crash(opts.dir, name, data, f"libFuzzer {kind} (see {log})\n")
            if hexpath not in crashes:
                crashes.append(hexpath)
            raw.unlink()
    execs = _stat(text, "number_of_executed_units")
    note = "" if code is not None else "killed: ran past its time"
    ok = code == 0 and not crashes
    if code not in (0, None) and not crashes:
        note = f"exited with {code}"
    return Outcome(name, ok, execs, _stat(text, "average_exec_per_sec"), crashes, log, note)


def fuzz_all(opts: argparse.Namespace, names: list[str]) -> int:
    logs = opts.dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    pending, running, done = list(names), [], []
    grace = 120  # start-up (imports, seeding) and libFuzzer's last words
    while pending or running:
        while pending and len(running) < max(opts.jobs, 1):
            name = pending.pop(0)
            log = logs / f"{name}.log"
            cmd = [sys.executable, __file__, "--child", name, "--seconds", str(opts.seconds),
                   "--dir", str(opts.dir), "--max-len", str(opts.max_len),
                   "--slow-seconds", str(opts.slow_seconds), "--rss-mb", str(opts.rss_mb),
                   "--targets-module", opts.targets_module]
            with log.open("w") as out:
                proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, cwd=ROOT)
            running.append((name, proc, log, time.time()))
        time.sleep(0.2)
        for item in list(running):
            name, proc, log, started = item
            code = proc.poll()
            if code is None and time.time() - started > opts.seconds + grace:
                proc.kill()
                proc.wait()
            elif code is None:
                continue
            running.remove(item)
            outcome = _collect(opts, name, log, code, started)
            done.append(outcome)
            _report(outcome)
    failed = [o for o in done if not o.ok]
    total = sum(o.execs or 0 for o in done)
    print(f"fuzz: {len(done) - len(failed)} passed, {len(failed)} failed "
          f"({total} inputs, {opts.seconds} s per target)")
    return 1 if failed else 0


def _report(o: Outcome) -> None:
    rate = f"{o.per_second}/s" if o.per_second is not None else "?/s"
    status = "ok" if o.ok else "FAILED"
    print(f"{o.name:20} {status:6} {o.execs or 0:>10} inputs {rate:>9}  {o.note}", flush=True)
    for path in o.crashes:
        why = path.with_suffix(".txt").read_text().strip().splitlines()[-1:]
        print(f"    crash input: {path}  ({why[0] if why else ''})", flush=True)
    if not o.ok and not o.crashes:
        tail = o.log.read_text(errors="replace").splitlines()[-25:]
        print("\n".join("    | " + line for line in tail), flush=True)


# ------------------------------------------------------------------ replay


def replay(opts: argparse.Namespace) -> int:
    module = _targets(opts.targets_module)
    path: Path = opts.replay
    name = opts.targets[0] if opts.targets else path.stem.rsplit("-", 1)[0]
    target = module.TARGETS[name]
    data = bytes.fromhex(path.read_text().strip())
    try:
        took = _cpu_seconds(module.feed, target, data)
    except BaseException:
        traceback.print_exc()
        print(f"{name}: CRASH on {len(data)} bytes")
        return 1
    slow = took > opts.slow_seconds
    print(f"{name}: {'SLOW' if slow else 'ok'} on {len(data)} bytes in {took:.3f} s of CPU")
    return 1 if slow else 0


def main(argv: list[str] | None = None) -> int:
    opts = _options(argv)
    opts.dir = opts.dir.resolve()
    if opts.child:
        child(opts)
        return 0
    if opts.replay:
        return replay(opts)
    names = list(_targets(opts.targets_module).TARGETS)
    if opts.list:
        print("\n".join(names))
        return 0
    unknown = [n for n in opts.targets if n not in names]
    if unknown:
        print(f"no fuzz target {', '.join(unknown)}; --list shows them", file=sys.stderr)
        return 2
    return fuzz_all(opts, opts.targets or names)


if __name__ == "__main__":
    sys.exit(main())
