"""``gear top``: a live Textual dashboard of Gearman job servers.

The pure parts (``model``, ``rates``, ``aggregate``, ``plain``) and the data
sources (``source``, ``fake``) import no Textual, so ``gear top --once``
works without starting a terminal UI; ``gear.tui.app.GearDashboard`` is the
Textual application, built on a ``gear.tui.source.StatsSource``.
"""
