"""Dialect-neutral SQL pieces the API queries need."""

from __future__ import annotations

from sqlalchemy import Date
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
