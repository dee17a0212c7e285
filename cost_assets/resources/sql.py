"""Dialect-neutral SQL pieces: the same expression on PostgreSQL and SQLite."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Date, Integer, cast, func
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class days_before(FunctionElement):
    """`day - n days` as a date, on PostgreSQL and SQLite alike."""

    type = Date()
    inherit_cache = True
    name = "days_before"


@compiles(days_before)
def _days_before_default(element, compiler, **kw):
    day, days = list(element.clauses)
    return f"(CAST({compiler.process(day, **kw)} AS DATE) - CAST({compiler.process(days, **kw)} AS INTEGER))"


@compiles(days_before, "sqlite")
def _days_before_sqlite(element, compiler, **kw):
    day, days = list(element.clauses)
    return f"date({compiler.process(day, **kw)}, '-' || {compiler.process(days, **kw)} || ' days')"


def any_true(column) -> ColumnElement[bool]:
    """Aggregate: whether any row of the group has `column` true. PostgreSQL has no
    max(boolean), so the maximum is taken over 0/1."""
    return func.max(cast(column, Integer)) == 1
