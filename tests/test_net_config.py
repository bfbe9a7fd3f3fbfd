"""config.toml's [network]: a fixed port per role, relays, reachability, one line per mistake."""

from __future__ import annotations

import tomllib

import pytest

from intentcast.agents.runtime.home import Config, HomeError, parse_config

PEER = "/ip4/203.0.113.7/tcp/4710/p2p/12D3KooWEhFuXX7NMpd6EGA23jRxGyS1vwycG388Lciv7SyDgdYA"


@pytest.mark.parametrize(("role", "port"), [("person", 4710), ("vendor", 4711),
                                            ("assistant", 4712)])
def test_each_role_listens_on_its_fixed_port_unless_told_otherwise(role, port):
    written = tomllib.loads(Config(role=role).to_toml())
    assert written["network"]["listen"] == f"/ip4/0.0.0.0/tcp/{port}"
    assert parse_config({"role": role}, where="x").listening == f"/ip4/0.0.0.0/tcp/{port}"
    told = Config(role=role, listen="/ip4/127.0.0.1/tcp/0")
    assert parse_config(tomllib.loads(told.to_toml()), where="x") == told


def test_relay_settings_survive_a_round_trip():
    config = Config(role="person", listen="/ip4/0.0.0.0/tcp/4710", relay_service=True,
                    relays=(PEER,), reachability="private")
    assert parse_config(tomllib.loads(config.to_toml()), where="x") == config


@pytest.mark.parametrize(("network", "message"), [
    ({"relays": ["/ip4/1.2.3.4/tcp/1"]}, "network.relays: multiaddrs ending in /p2p/"),
    ({"relays": "x"}, "network.relays"),
    ({"relays": [PEER] * 65}, "network.relays"),
    ({"relay_service": "yes"}, "network.relay_service: true or false"),
    ({"reachability": "maybe"}, "network.reachability: auto, public, private"),
    ({"listen": "tcp:4710"}, "network.listen"),
])
def test_a_bad_network_setting_gets_one_line_naming_it(network, message):
    with pytest.raises(HomeError, match=message.replace(".", r"\.")):
        parse_config({"network": network}, where="config.toml")
