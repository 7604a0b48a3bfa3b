"""BenchConfig: addresses, validation, and the split over processes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gear.bench.config import BenchConfig, BenchConfigError, parse_address, split


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("127.0.0.1:4731", ("127.0.0.1", 4731)),
        ("localhost", ("localhost", 4730)),
        (":5000", ("127.0.0.1", 5000)),
        ("[::1]:4732", ("::1", 4732)),
        ("[::1]", ("::1", 4730)),
        ("host:", ("host", 4730)),
    ],
)
def test_parse_address(spec: str, want: tuple[str, int]) -> None:
    assert parse_address(spec) == want


@pytest.mark.parametrize("spec", ["host:abc", "host:0", "host:70000"])
def test_parse_address_rejects(spec: str) -> None:
    with pytest.raises(BenchConfigError, match="port must be a number"):
        parse_address(spec)


@pytest.mark.parametrize(("spec", "why"), [("[::1]x", "expected ':port'"), ("[::1", "missing ']'")])
def test_parse_address_rejects_a_broken_v6_literal(spec: str, why: str) -> None:
    with pytest.raises(BenchConfigError, match=why):
        parse_address(spec)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"scenario": "nope"}, "unknown scenario"),
        ({"clients": 0}, "clients"),
        ({"window": 0}, "window"),
        ({"size": -1}, "size"),
        ({"duration": -1.0}, "duration"),
        ({"timeout": 0.0}, "timeout"),
        ({"function": "a b"}, "function"),
        ({"port": 0}, "port"),
        ({"processes": 99, "idle": 0}, "processes"),
    ],
)
def test_validate_rejects(change: dict[str, object], words: str) -> None:
    config = replace(BenchConfig(), **change)  # type: ignore[arg-type]
    with pytest.raises(BenchConfigError, match=words):
        config.validate()


def test_default_function_is_unique() -> None:
    assert BenchConfig().function != BenchConfig().function


def test_split_deals_connections_and_count() -> None:
    config = BenchConfig(scenario="herd", clients=3, workers=4, idle=5, count=1000, processes=2)
    parts = split(config)
    assert [p.clients for p in parts] == [2, 1]
    assert [p.workers for p in parts] == [2, 2]
    assert [p.idle for p in parts] == [3, 2]
    assert sum(p.count for p in parts) == 1000
    assert all(p.processes == 1 and p.function == config.function for p in parts)


def test_split_gives_no_jobs_to_a_part_without_clients() -> None:
    parts = split(BenchConfig(clients=1, workers=4, count=7, processes=3))
    assert [p.count for p in parts] == [7, 0, 0]


def test_split_drops_idle_workers_outside_herd() -> None:
    assert all(p.idle == 0 for p in split(BenchConfig(scenario="fg", processes=2)))


def test_validate_rejects_an_unknown_spread_and_bad_ports_of_any_server() -> None:
    with pytest.raises(BenchConfigError, match="spread"):
        BenchConfig(spread="random").validate()
    with pytest.raises(BenchConfigError, match="port"):
        BenchConfig(servers=(("127.0.0.1", 4730), ("127.0.0.1", 0))).validate()


def test_addresses_are_the_servers_or_host_and_port() -> None:
    assert BenchConfig(host="h", port=1).addresses == (("h", 1),)
    two = (("a", 1), ("b", 2))
    assert BenchConfig(host="a", port=1, servers=two).addresses == two


def test_many_is_fg_at_1000_clients_unless_the_user_set_the_sizes() -> None:
    many = BenchConfig().for_scenario("many")
    assert (many.scenario, many.clients, many.window, many.workers) == ("many", 1000, 1, 100)
    assert many.round_trips and many.uses_workers and many.idle_workers == 0
    mine = BenchConfig(clients=50, explicit=frozenset({"clients"})).for_scenario("many")
    assert (mine.clients, mine.window, mine.workers) == (50, 1, 100)
    fg = BenchConfig(clients=7).for_scenario("fg")
    assert (fg.scenario, fg.clients, fg.window) == ("fg", 7, 16)
