"""The version of gear, in a module of its own.

Strategy: ``gear/__init__.py`` re-exports the client library, so a module of
the server that imported ``gear.__version__`` would load the client too
(and break the rule that client and server never import each other).  Both
read it from here; setuptools reads it statically (pyproject.toml).
"""

from __future__ import annotations

__version__ = "0.1.0"
