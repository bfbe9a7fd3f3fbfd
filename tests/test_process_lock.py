"""One process per home, one process per port: a second start is refused in one line that says
who has the home, or which setting to change, and leaves the first one alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from e2e import CATALOGS, ROOT

from intentcast.agents.runtime import lock
from intentcast.agents.runtime.home import Config

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-m", "intentcast.agents.cli"]


def _run(cluster, home, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "--home", str(home), *args], capture_output=True, text=True,
                          env=cluster.env(), cwd=ROOT, timeout=60, stdin=subprocess.DEVNULL)


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("intentcast: ")
    return result.stderr.strip()


def test_a_second_daemon_is_refused_and_the_first_keeps_its_api(cluster):
    person, home = cluster.person()
    address = (home / "api.json").read_bytes()
    line = _one_line(_run(cluster, home, "daemon"))
    assert f"{home} is in use by intentcast daemon (pid {person.proc.pid})" in line
    assert (home / "api.json").read_bytes() == address
    status = cluster.api(home).call("GET", "/v1/status")
    assert status["peer_id"] == person.events[0]["peer_id"]
    assert person.stop() == 0
    again, _ = cluster.person()  # the lock went with the process
    assert again.stop() == 0


def test_a_killed_daemon_leaves_no_lock_behind(cluster):
    person, home = cluster.person()
    person.stop(signal.SIGKILL)
    assert (home / "lock").exists()  # the file stays; the kernel dropped the lock on it
    again, _ = cluster.person()
    assert again.stop() == 0


def test_a_second_vendor_is_refused(cluster):
    vendor, home = cluster.vendor("trailhead", "trailhead.toml")
    line = _one_line(_run(cluster, home, "vendor", "run"))
    assert f"in use by intentcast vendor run (pid {vendor.proc.pid})" in line
    assert not [e for e in vendor.drain() if e.get("event") != "ready"]
    assert vendor.stop() == 0


def test_an_assistant_takes_the_lock_before_anything_else(cluster):
    home, _ = cluster.assistant_home()
    with lock.hold(home, "a test holding it"):
        line = _one_line(_run(cluster, home, "assistant", "run",
                              "examples.assistants.best_price:BestPrice",
                              "--delegation", str(home / "no-grant-needed.json")))
    assert f"in use by a test holding it (pid {os.getpid()})" in line
    assert (home / "lock").read_bytes() == b""  # the holder's pid goes with it


def test_a_listen_port_in_use_is_one_line_naming_the_setting(cluster):
    first, _ = cluster.person("first")
    taken = first.events[0]["addrs"][0].split("/p2p/")[0]
    port = taken.rsplit("/", 1)[1]
    person = cluster.home("second", Config(role="person"))
    vendor = cluster.home("vendor", Config(role="vendor",
                                           catalog=str(CATALOGS / "trailhead.toml")))
    for home, args in ((person, ["daemon", "--listen", taken]),
                       (vendor, ["vendor", "run", "--listen", taken])):
        line = _one_line(_run(cluster, home, *args))
        assert f"cannot listen on 127.0.0.1 port {port}: the port is in use" in line
        assert f"network.listen in {home / 'config.toml'} or pass --listen" in line
    (person / "config.toml").write_text(Config(role="person", listen=taken).to_toml())
    assert "network.listen" in _one_line(_run(cluster, person, "daemon"))
    assert not (person / "api.json").exists()
    assert first.stop() == 0


def test_an_api_port_in_use_is_one_line_naming_the_setting(cluster):
    first, _ = cluster.person("first")
    port = first.events[0]["api"].rsplit(":", 1)[1]
    home = cluster.home("second", Config(role="person"))
    line = _one_line(_run(cluster, home, "daemon", "--api-port", port))
    assert f"cannot listen on 127.0.0.1 port {port}: the port is in use" in line
    assert f"api.port in {home / 'config.toml'} or pass --api-port" in line
    assert not (home / "api.json").exists()
    assert first.stop() == 0
