"""Long fuzz runs of the decoder, the admin parsers and the server state machine.

Not part of the test suite (the suite runs the state machine briefly):

    python bench/fuzz.py                    # ~1 minute: 200,000 inputs per parser, 2,000 runs
    python bench/fuzz.py --inputs 2000000 --examples 20000

1. Decoders: valid request and response packets and admin lines, mutated
   (bytes flipped, cut, spliced, lengths rewritten) or plain random, fed to
   ``Decoder`` whole, byte by byte or in random chunks.  Anything but
   ``RemoteProtocolError`` is a crash.
2. The server's admin parser (``AdminCommands.run``) on random and mutated
   command lines against a live broker; the client's reply parser
   (``ReplyReader`` + ``parse_reply``) on random replies.  Anything but
   ``AdminError``/``RemoteProtocolError`` is a crash.
3. The server state machine (tests/hardening/stateful.py) for
   ``--examples`` runs; a failed invariant is a violation.

Prints one JSON document with the counts.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gear.errors import GearError
from gear.protocol import REQ, RES, Decoder, PacketType, request, response
from gear.protocol.admin_replies import ReplyReader, parse_reply
from gear.protocol.framing import NEED_DATA
from gear.server import ServerConfig
from gear.server.server import Server

ADMIN_WORDS = [
    "status", "workers", "version", "getpid", "verbose", "show jobs", "show unique jobs",
    "show queue", "show workers", "show functions", "show maxqueue", "prioritystatus",
    "maxqueue f 1 2 3", "cancel job H:x:1", "create function f", "drop function f", "stats",
    "shutdown", "shutdown graceful",
]  # fmt: skip


def seeds(rng: random.Random) -> list[bytes]:
    """Valid inputs to mutate: requests, responses and admin lines."""
    out = [w.encode() + b"\n" for w in ADMIN_WORDS]
    for ptype in PacketType:
        n = rng.randint(0, 4)
        args = [rng.randbytes(rng.randint(0, 12)) for _ in range(n)]
        out.append(request(ptype, *args))
        out.append(response(ptype, *args))
    return out


def mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(6)
        if choice == 0 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif choice == 1 and b:
            del b[rng.randrange(len(b)) :]
        elif choice == 2:
            b += rng.choice(pool)
        elif choice == 3 and len(b) >= 12:
            b[8:12] = rng.randrange(1 << 32).to_bytes(4, "big")  # a wild length
        elif choice == 4:
            b[rng.randrange(len(b) + 1) : rng.randrange(len(b) + 1)] = rng.randbytes(4)
        else:
            b = bytearray(rng.randbytes(rng.randint(1, 64)))
    return bytes(b)


def feed_all(decoder: Decoder, data: bytes, rng: random.Random) -> None:
    mode = rng.randrange(3)
    chunks = (
        [data]
        if mode == 0
        else [data[i : i + 1] for i in range(len(data))]
        if mode == 1
        else _chunks(data, rng)
    )
    for chunk in chunks:
        decoder.feed(chunk)
        while True:
            try:
                event = decoder.next_event()
            except GearError as exc:
                if getattr(exc, "fatal", False):
                    return
                continue
            if event is NEED_DATA:
                break


def _chunks(data: bytes, rng: random.Random) -> list[bytes]:
    out, pos = [], 0
    while pos < len(data):
        step = rng.randint(1, 16)
        out.append(data[pos : pos + step])
        pos += step
    return out


def fuzz_decoders(n: int, rng: random.Random, crashes: list[str]) -> int:
    pool = seeds(rng)
    tried = 0
    for _ in range(n):
        data = mutate(rng, rng.choice(pool), pool)
        for expect, text in ((REQ, True), (RES, False)):
            tried += 1
            try:
                feed_all(Decoder(expect=expect, allow_text=text, max_packet_size=4096), data, rng)
            except Exception:
                crashes.append(f"decoder {data!r}: {traceback.format_exc(limit=3)}")
    return tried


def fuzz_admin(n: int, rng: random.Random, crashes: list[str]) -> int:
    pool = [w.encode() for w in ADMIN_WORDS]
    tried = 0
    for i in range(n):
        if i % 5000 == 0:  # fresh state: "create function" lines pile up functions
            server = Server(ServerConfig(port=0))
            session = server.broker.connect("127.0.0.1", 5)
        line = mutate(rng, rng.choice(pool), pool).replace(b"\n", b" ")
        tried += 1
        try:
            reply = server.admin.run(session, line)
            assert reply.endswith(b"\n"), reply
        except Exception:
            crashes.append(f"admin {line!r}: {traceback.format_exc(limit=3)}")
        words = rng.choice(ADMIN_WORDS).split()
        reader = ReplyReader(" ".join(words))
        text = rng.choice([b"OK 1\n", b"ERR X y\n", b".\n", b"a\tb\t1\n", b"1 2 3 : f\n"])
        body = mutate(rng, text, [b"\n", b".\n", b"\t", b"OK"]) + b"\n.\n"
        tried += 1
        try:
            for piece in body.splitlines(keepends=True):
                reply_obj = reader.feed(piece)
                if reply_obj is not None:
                    try:
                        parse_reply(words, reply_obj)
                    except GearError:
                        pass
                    break
        except GearError:
            pass
        except Exception:
            crashes.append(f"reply {words} {body!r}: {traceback.format_exc(limit=3)}")
    return tried


def run_machine(examples: int) -> tuple[int, int, int, str]:
    os.environ["GEAR_FUZZ_EXAMPLES"] = str(examples)
    import unittest

    from tests.hardening import stateful

    stateful.ServerMachine.TestCase.settings = stateful.machine_settings(examples)
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(stateful.ServerMachine.TestCase)
    result = unittest.TextTestRunner(stream=open(os.devnull, "w"), verbosity=0).run(suite)
    failure = "".join(text for _, text in result.failures + result.errors)[-2000:]
    counts = stateful.COUNTS
    return counts["examples"], counts["steps"], len(result.failures) + len(result.errors), failure


def progress(phase: str, started: float, crashes: list[str]) -> None:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    took = time.monotonic() - started
    line = f"{phase} done at {took:.0f} s, {len(crashes)} crashes, max RSS {rss} MiB"
    print(line, file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=200_000, help="inputs per parser")
    parser.add_argument("--examples", type=int, default=2_000, help="state machine runs")
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    crashes: list[str] = []
    started = time.monotonic()
    decoded = fuzz_decoders(args.inputs, rng, crashes)
    progress("decoders", started, crashes)
    admin = fuzz_admin(args.inputs, rng, crashes)
    progress("admin parsers", started, crashes)
    runs, steps, violations, failure = run_machine(args.examples)
    progress("state machine", started, crashes)
    report = {
        "decoder_inputs": decoded,
        "admin_inputs": admin,
        "crashes": len(crashes),
        "state_machine_runs": runs,
        "state_machine_steps": steps,
        "invariant_violations": violations,
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(report, indent=1))
    for crash in crashes[:5]:
        print(crash, file=sys.stderr)
    if failure:
        print(failure, file=sys.stderr)
    sys.exit(1 if crashes or violations else 0)


if __name__ == "__main__":
    main()
