"""A PostgreSQL outage of the test database only: its backends terminated, new connections refused.

The server is never stopped (other test runs share it): ``ALTER DATABASE … ALLOW_CONNECTIONS false``
makes PostgreSQL refuse new connections to this one database (``FATAL: database "…" is not
currently accepting connections``), and ``pg_terminate_backend`` ends the ones already open (the
client sees its connection closed under it). PostgreSQL refuses that ALTER from a connection to the
database itself: it is sent from a connection to the ``postgres`` maintenance database, which
lets connections in again at the end. The test process's own connection is left alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
from django.db import connection

from testing.tools import need_postgres


def _database_name() -> str:
    return connection.settings_dict["NAME"]


def terminate_backends() -> int:
    """Ends every other connection to the test database; returns how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def _maintenance_connection() -> psycopg.Connection:
    cfg = connection.settings_dict
    for dbname in ("postgres", "template1"):  # the second one on servers without a postgres database
        try:
            return psycopg.connect(
                dbname=dbname,
                user=cfg["USER"],
                password=cfg.get("PASSWORD") or None,
                host=cfg["HOST"] or "127.0.0.1",
                port=cfg["PORT"] or 5432,
                autocommit=True,
            )
        except psycopg.OperationalError:
            if dbname == "template1":
                raise
    raise AssertionError("unreachable")


def allow_connections(allowed: bool) -> None:
    name = connection.ops.quote_name(_database_name())
    with _maintenance_connection() as maintenance:
        maintenance.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS {'true' if allowed else 'false'}")


@contextlib.contextmanager
def database_outage() -> Iterator[None]:
    """Inside: the test database's other connections are gone and new ones are refused."""
    need_postgres()
    connection.ensure_connection()  # ours must be open before the door closes
    allow_connections(False)
    try:
        terminate_backends()
        yield
    finally:
        allow_connections(True)
