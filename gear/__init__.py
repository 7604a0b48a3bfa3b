"""gear: a Gearman job server, client and worker library, and tools.

The public API is re-exported here; front ends (``gear.cli``, ``gear.tui``)
and the server (``gear.server``) are imported only when used.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
