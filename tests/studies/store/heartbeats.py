"""Reading and ageing Optuna's heartbeat rows directly, on any database, instead of waiting."""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterator

import sqlalchemy

HEARTBEATS = sqlalchemy.table(
    "trial_heartbeats",
    sqlalchemy.column("trial_id", sqlalchemy.Integer),
    sqlalchemy.column("heartbeat", sqlalchemy.DateTime),
)


@contextlib.contextmanager
def _engine(url: str) -> Iterator[sqlalchemy.engine.Engine]:
    engine = sqlalchemy.create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def heartbeats(url: str) -> dict[int, datetime.datetime]:
    """Each trial id with a heartbeat row, and its heartbeat."""
    with _engine(url) as engine, engine.connect() as connection:
        return dict(connection.execute(sqlalchemy.select(HEARTBEATS.c.trial_id, HEARTBEATS.c.heartbeat)).all())


def age_heartbeats(url: str, *, by: datetime.timedelta) -> None:
    """Move every heartbeat ``by`` into the past, as if the workers had been silent that long."""
    with _engine(url) as engine, engine.begin() as connection:
        rows = connection.execute(sqlalchemy.select(HEARTBEATS.c.trial_id, HEARTBEATS.c.heartbeat)).all()
        for trial_id, beat in rows:
            connection.execute(sqlalchemy.update(HEARTBEATS).where(HEARTBEATS.c.trial_id == trial_id)
                               .values(heartbeat=beat - by))
