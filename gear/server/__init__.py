"""The Gearman job server: a pure routing core (``broker``) in an asyncio shell.

The names below load lazily, so importing ``gear.server.broker`` (pure) does
not pull in asyncio through this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gear.server.config import ConfigError, ServerConfig, StaleBuildError
    from gear.server.server import Server, run, serve

__all__ = ["ConfigError", "Server", "ServerConfig", "StaleBuildError", "run", "serve"]

_HOMES = {
    "ConfigError": "gear.server.config",
    "ServerConfig": "gear.server.config",
    "StaleBuildError": "gear.server.config",
    "Server": "gear.server.server",
    "run": "gear.server.server",
    "serve": "gear.server.server",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'gear.server' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
