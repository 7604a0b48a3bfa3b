"""Access control: who may register, submit to, and administer what.

Strategy: an ACL file (TOML, ``gear serve --acl FILE``) is a list of rules,
each matching peers by client-certificate subject (``cn`` or full ``dn``)
and/or source ``network``, and granting function-name patterns to register
(CAN_DO, CAN_DO_TIMEOUT) and to submit to, plus ``admin`` (the mutating
admin commands).  The first rule that matches a connection wins; a peer no
rule matches gets ``[defaults]`` (nothing, unless the file says otherwise)::

    [defaults]
    submit = ["public.*"]

    [[rule]]
    cn = "worker1"                   # or dn = "CN=worker1,O=Example"
    register = ["resize", "thumb.*"] # fnmatch patterns; "*" = everything
    submit = ["*"]

    [[rule]]
    network = ["127.0.0.0/8", "::1/128"]
    admin = true
    submit = ["*"]

Each connection gets one ``Grants`` when it is accepted; the broker asks it
``may_register(name)`` / ``may_submit(name)``, whose answers are cached per
function, so a refusal is logged once per connection and function, and an
allowed name costs one dict look-up.  ``Access`` holds the rules in force
and re-reads the file on SIGHUP; a file that does not load keeps the old
rules, and the reason is logged.

Without an ACL file, loopback peers get ``None`` (no checks at all: the
broker's fast path) and every other peer may register and submit anything
but not run mutating admin commands.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import logging
import re
import tomllib
from dataclasses import dataclass
from typing import Any, Final

log = logging.getLogger("gear.server.acl")

#: the admin commands that change the server (each needs ``admin``)
MUTATING_ADMIN: Final = frozenset({b"cancel", b"create", b"drop", b"maxqueue", b"shutdown"})
#: the keys a rule may have
_RULE_KEYS: Final = frozenset({"cn", "dn", "network", "register", "submit", "admin"})

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class AclError(ValueError):
    """An ACL file that cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Identity:
    """What a connection can be recognised by."""

    #: the peer's IP address as text
    host: str
    #: the verified client certificate's common name ("" without one)
    cn: str = ""
    #: its full subject, RFC 4514 style ("" without one)
    dn: str = ""

    def describe(self) -> str:
        """``host`` and, when there is one, the certificate's CN."""
        return f"{self.host} (CN={self.cn})" if self.cn else self.host


class _Patterns:
    """A list of fnmatch patterns over function names, compiled to one regex."""

    __slots__ = ("everything", "regex", "source")

    def __init__(self, patterns: list[str]) -> None:
        self.source = patterns
        self.everything = "*" in patterns
        joined = "|".join(fnmatch.translate(p) for p in patterns) or "(?!)"
        self.regex = re.compile(joined.encode("utf-8", "surrogateescape"), re.DOTALL)

    def match(self, name: bytes) -> bool:
        return self.everything or self.regex.fullmatch(name) is not None


@dataclass(frozen=True)
class Rule:
    """One ``[[rule]]`` (or the ``[defaults]``) of an ACL file."""

    #: shown in log lines, e.g. ``rule 2 (cn=worker1)``
    label: str
    register: _Patterns
    submit: _Patterns
    admin: bool
    cn: str | None = None
    dn: str | None = None
    networks: tuple[Network, ...] = ()

    def matches(self, who: Identity) -> bool:
        """Whether every selector the rule has matches ``who``."""
        if self.cn is not None and who.cn != self.cn:
            return False
        if self.dn is not None and who.dn != self.dn:
            return False
        if self.networks:
            try:
                addr = ipaddress.ip_address(who.host)
            except ValueError:
                return False
            if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
                addr = addr.ipv4_mapped
            return any(addr in net for net in self.networks)
        return True


class Grants:
    """What one connection may do (asked by the broker and the admin commands)."""

    __slots__ = ("_register", "_seen_register", "_seen_submit", "_submit", "admin", "who", "why")

    def __init__(self, who: Identity, rule: Rule) -> None:
        #: the connection these grants are for
        self.who = who
        #: which rule granted them (for log lines)
        self.why = rule.label
        #: may run the mutating admin commands
        self.admin = rule.admin
        self._register = rule.register
        self._submit = rule.submit
        self._seen_register: dict[bytes, bool] = {}
        self._seen_submit: dict[bytes, bool] = {}

    def may_register(self, name: bytes) -> bool:
        """Whether CAN_DO ``name`` is allowed (a refusal is logged once)."""
        seen = self._seen_register.get(name)
        if seen is None:
            seen = self._decide(self._seen_register, self._register, name, "register")
        return seen

    def may_submit(self, name: bytes) -> bool:
        """Whether a submit to ``name`` is allowed (a refusal is logged once)."""
        seen = self._seen_submit.get(name)
        if seen is None:
            seen = self._decide(self._seen_submit, self._submit, name, "submit to")
        return seen

    def may_admin(self, command: bytes) -> bool:
        """Whether the admin command word ``command`` is allowed (refusals logged)."""
        if self.admin or command.lower() not in MUTATING_ADMIN:
            return True
        log.warning(
            "permission denied: %s may not run admin %r (%s)",
            self.who.describe(),
            command.decode("utf-8", "replace"),
            self.why,
        )
        return False

    def _decide(self, seen: dict[bytes, bool], patterns: _Patterns, name: bytes, verb: str) -> bool:
        allowed = patterns.match(name)
        if len(seen) < 4096:  # a peer inventing names cannot grow it without bound
            seen[name] = allowed
        if not allowed:
            log.warning(
                "permission denied: %s may not %s %r (%s)",
                self.who.describe(),
                verb,
                name.decode("utf-8", "replace"),
                self.why,
            )
        return allowed


#: without an ACL file: anything but the mutating admin commands
_OPEN_RULE: Final = Rule(
    "no --acl: mutating admin commands from loopback only",
    _Patterns(["*"]),
    _Patterns(["*"]),
    admin=False,
)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (127.0.0.0/8, ::1, v4-mapped)."""
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return host in ("", "-") or host.startswith("/")  # a Unix socket
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback


class Access:
    """The access rules in force, and their reloading."""

    def __init__(self, path: str | None) -> None:
        #: the ACL file, or None (loopback may do anything; others no admin)
        self.path = path
        self.rules: list[Rule] = []
        self.defaults: Rule = _OPEN_RULE
        if path is not None:
            self.rules, self.defaults = load(path)

    def describe(self) -> str:
        """One line for the start-up log."""
        if self.path is None:
            return (
                "no --acl file: mutating admin commands (cancel, create, drop, maxqueue, "
                "shutdown) are accepted from loopback only, read-only ones from anywhere"
            )
        return f"ACL {self.path}: {len(self.rules)} rules (first match wins, else [defaults])"

    def grants_for(self, who: Identity) -> Grants | None:
        """The grants of a new connection (None: no checks at all)."""
        if self.path is None:
            return None if is_loopback(who.host) else Grants(who, _OPEN_RULE)
        for rule in self.rules:
            if rule.matches(who):
                return Grants(who, rule)
        return Grants(who, self.defaults)

    def reload(self) -> bool:
        """Re-read the ACL file; on failure keep the old rules and log why."""
        if self.path is None:
            return False
        try:
            self.rules, self.defaults = load(self.path)
        except AclError as exc:
            log.error("ACL reload failed, keeping the previous rules: %s", exc)
            return False
        log.warning("ACL reloaded from %s: %d rules", self.path, len(self.rules))
        return True


def load(path: str) -> tuple[list[Rule], Rule]:
    """Read an ACL file: its rules in order, and its defaults.

    Raises:
        AclError: the file cannot be read, is not TOML, or has a bad rule.
    """
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise AclError(f"{path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise AclError(f"{path}: not valid TOML: {exc}") from None
    unknown = set(doc) - {"rule", "defaults"}
    if unknown:
        raise AclError(f"{path}: unknown table(s) {', '.join(sorted(unknown))}")
    rules_doc = doc.get("rule", [])
    if not isinstance(rules_doc, list):
        raise AclError(f"{path}: 'rule' must be an array of tables ([[rule]])")
    rules = [_rule(path, f"rule {i}", r, selector=True) for i, r in enumerate(rules_doc, 1)]
    defaults = _rule(path, "defaults", doc.get("defaults", {}), selector=False)
    return rules, defaults


def _rule(path: str, label: str, raw: Any, *, selector: bool) -> Rule:
    where = f"{path}: {label}"
    if not isinstance(raw, dict):
        raise AclError(f"{where}: must be a table")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise AclError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    cn, dn = _text(where, raw, "cn"), _text(where, raw, "dn")
    networks = tuple(_network(where, n) for n in _list(where, raw, "network"))
    has_selector = cn is not None or dn is not None or bool(networks)
    if selector and not has_selector:
        raise AclError(f"{where}: needs at least one of cn, dn or network")
    if not selector and has_selector:
        raise AclError(f"{where}: [defaults] takes no cn, dn or network")
    admin = raw.get("admin", False)
    if not isinstance(admin, bool):
        raise AclError(f"{where}: admin must be true or false")
    picked = [f"{k}={raw[k]}" for k in ("cn", "dn", "network") if k in raw]
    return Rule(
        f"{label} ({', '.join(picked)})" if picked else label,
        _Patterns(_list(where, raw, "register")),
        _Patterns(_list(where, raw, "submit")),
        admin,
        cn,
        dn,
        networks,
    )


def _text(where: str, raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise AclError(f"{where}: {key} must be a string")
    return value


def _list(where: str, raw: dict[str, Any], key: str) -> list[str]:
    value = raw.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AclError(f"{where}: {key} must be a string or a list of strings")
    return value


def _network(where: str, text: str) -> Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise AclError(f"{where}: bad network {text!r}: {exc}") from None
