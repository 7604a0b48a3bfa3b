"""The Gearman job server: a pure routing core (``broker``) in an asyncio shell."""

from gear.server.config import ConfigError, ServerConfig
from gear.server.server import Server, run, serve

__all__ = ["ConfigError", "Server", "ServerConfig", "run", "serve"]
