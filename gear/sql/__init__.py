"""Submit Gearman jobs from SQL: the ``gman_*`` functions for PostgreSQL.

``gear sql install`` creates, in a schema of the database, PL/Python
(``plpython3u``) functions named like Gearman's MySQL UDFs (``gman_do``,
``gman_do_background``, ``gman_servers_set`` …).  They run inside the
database server and submit jobs with gear's own blocking ``gear.Client``.

Modules: ``schema`` (the SQL text of every object, pure), ``plpython`` (the
code the functions run, inside PostgreSQL), ``sqlstate`` (their errors),
``admin`` (install / uninstall / status over psycopg) and ``relay`` (the
process that sends the jobs ``gman_do_background_on_commit`` queued, once
their transaction commits).  This package is a front end: it uses gear's
public client API and never ``gear.server``.

Strategy: this ``__init__`` imports nothing, because the database server's
Python imports ``gear.sql.plpython`` through it and has neither psycopg nor
click.
"""
