"""The REPL grammar with plain strings: parsing, completion tree, tokens, help."""

from __future__ import annotations

import pytest

from gear.cli.repl import commands as c
from gear.cli.repl.commands import Command, LiveNames, ParseError, parse
from gear.protocol import admin_replies as ar


def ok(line: str) -> Command:
    command = parse(line)
    assert isinstance(command, Command), command
    return command


def err(line: str) -> str:
    result = parse(line)
    assert isinstance(result, ParseError), result
    return str(result)


@pytest.mark.parametrize(
    ("line", "admin_line"),
    [
        ("status", "status"),
        ("  STATUS  ", "status"),
        ("st", "status"),
        ("stat", "status"),
        ("prioritystatus", "prioritystatus"),
        ("show jobs", "show jobs"),
        ("Show Unique Jobs", "show unique jobs"),
        ("show queue", "show queue"),
        ("show workers", "show workers"),
        ("show maxqueue", "show maxqueue"),
        ("stats", "stats"),
        ("cancel job H:x:1", "cancel job H:x:1"),
        ("create function f", "create function f"),
        ("drop function f", "drop function f"),
        ("maxqueue f", "maxqueue f"),
        ("maxqueue f 10", "maxqueue f 10"),
        ("maxqueue f 1 2 3", "maxqueue f 1 2 3"),
        ("shutdown", "shutdown"),
        ("shutdown graceful", "shutdown graceful"),
        ("jobs", "jobs"),
        ("clients", "clients"),
        ("getpid", "getpid"),
        ("verbose", "verbose"),
        ("version", "version"),
        ("raw  show   queue ", "show   queue"),
    ],
)
def test_admin_line(line: str, admin_line: str) -> None:
    assert ok(line).admin_line == admin_line


def test_blank_line_is_nothing() -> None:
    assert parse("   ") is None


def test_pattern_and_sort() -> None:
    command = ok("status rev* --sort -queued")
    assert (command.pattern, command.sort, command.descending) == ("rev*", "queued", True)
    command = ok("workers --sort=fd w1")
    assert (command.pattern, command.sort, command.descending) == ("w1", "fd", False)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("frob", "unknown command 'frob'"),
        ("cancel job", "needs HANDLE"),
        ("cancel job a b", "unexpected 'b'"),
        ("maxqueue", "needs FUNCTION"),
        ("maxqueue f 1 2", "wrong number of sizes"),
        ("maxqueue f x", "whole number"),
        ("shutdown now", "one of graceful"),
        ("status --sort", "--sort needs a column"),
        ("status --sort bogus", "no column 'bogus'"),
        ("status --frob", "unknown option --frob"),
        ("version --sort x", "unknown option --sort"),
        ("status a b", "unexpected 'b'"),
        ("raw", "raw needs a line"),
        ("help nothing", "no command 'nothing'"),
    ],
)
def test_errors(line: str, message: str) -> None:
    assert message in err(line)


def test_usage_is_part_of_errors() -> None:
    assert "usage: maxqueue FUNCTION [N | HIGH NORMAL LOW]" in err("maxqueue f 1 2")
    assert ok("status").spec.usage() == "status [PATTERN] [--sort [-]COLUMN]"


def test_destructive_and_local_flags() -> None:
    assert ok("cancel job h").spec.destructive and ok("drop function f").spec.destructive
    assert ok("shutdown").spec.destructive and not ok("maxqueue f 1").spec.destructive
    assert ok("help").spec.local and ok("server all").spec.local and ok("exit").spec.local
    assert not ok("raw version").spec.local


def test_help_takes_multi_word_commands() -> None:
    assert ok("help show jobs").args == ("show jobs",)
    assert "usage: show jobs" in c.help_text("show jobs")
    assert "show unique jobs" in c.help_text("show") and "show queue" in c.help_text("show")
    assert "cancel job" in c.help_text() and "Ctrl-R" in c.help_text()
    assert "servers: gear, gearmand" in c.help_text("cancel job")
    assert "aliases: st, stat" in c.help_text("status")
    assert "needs --yes" in c.help_text("drop function")


def live() -> LiveNames:
    return LiveNames({"reverse", "resize"}, {"H:x:1", "H:x:2"}, {"w1"}, ["a:4730", "b:4730"])


def test_completion_tree_commands_in_table_order() -> None:
    tree = c.completion_tree(live())
    top = list(tree)
    assert top.index("status") < top.index("stats")
    assert set(tree["show"]) == {"jobs", "unique", "queue", "workers", "functions", "maxqueue"}
    assert tree["show"]["unique"] == {"jobs": {"--sort": {"unique": None}}}


def test_completion_tree_live_names() -> None:
    tree = c.completion_tree(live())
    assert set(tree["cancel"]["job"]) == {"H:x:1", "H:x:2"}
    assert set(tree["status"]) == {"reverse", "resize", "--sort"}
    assert tree["status"]["reverse"] == {
        "--sort": dict.fromkeys(["function", "total", "queued", "running", "workers"])
    }
    assert {"w1", "reverse"} <= set(tree["workers"])
    assert set(tree["server"]) == {"a:4730", "b:4730", "all"}
    assert tree["shutdown"] == {"graceful": None}
    assert set(tree["drop"]["function"]) == {"reverse", "resize"}
    assert tree["version"] is None


def test_live_names_absorb_rows() -> None:
    names = LiveNames()
    names.absorb(
        [
            ar.FunctionStatus(function="f", total=0, running=0, workers=0),
            ar.JobInfo(handle="H:1", retries=0, ignored=False, queued=True),
            ar.WorkerInfo(fd=1, address="a", client_id="w9", functions=("g",)),
            ar.WorkerDetail(
                fd=1,
                address="a",
                client_id="",
                state="busy",
                state_seconds=0.0,
                handles=("H:2",),
                connected_seconds=0.0,
                functions=("h",),
            ),
        ]
    )
    assert names.functions == {"f", "g", "h"}
    assert names.handles == {"H:1", "H:2"}
    assert names.workers == {"w9"}


def test_classify_tokens() -> None:
    assert c.classify("show jobs  --sort retries 12") == [
        ("command", "show"),
        ("", " "),
        ("command", "jobs"),
        ("", "  "),
        ("option", "--sort"),
        ("", " "),
        ("argument", "retries"),
        ("", " "),
        ("number", "12"),
    ]
    assert c.classify("frob x")[0] == ("error", "frob")
    assert c.classify("") == []
