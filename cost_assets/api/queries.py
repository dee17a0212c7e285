"""The API's queries: one statement per endpoint, parameterized, SQLAlchemy Core.

`as_of` defaults to the latest day with data inside the same statement, so no
endpoint needs a second round trip.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Select, and_, bindparam, case, func, literal, select, union_all

from cost_assets.resources.sql import days_before
from cost_assets.resources.schema import (
    allocation_hops,
    cost_anomalies,
    cost_anomaly_root_causes,
    cost_forecasts,
    customer_cost_allocation,
    customer_unit_economics,
    daily_team_costs,
    off_hours_waste,
    service_cost_report,
    team_costs,
)

ANOMALY_DAYS = 7
HALF_MICRO_USD = 5e-7  # a service's own line with no dollars of its own left  # "open" anomalies: those of the last week up to as_of


def _as_of(column, as_of: dt.date | None, latest_of):
    """`as_of` when given, else the latest value of `latest_of`."""
    latest = select(func.max(latest_of)).scalar_subquery()
    return column == (literal(as_of) if as_of else latest)


def teams(as_of: dt.date | None) -> Select:
    return (
        select(team_costs.c.team, team_costs.c.last_30_days_cost, team_costs.c.service_count, team_costs.c.as_of_date)
        .where(_as_of(team_costs.c.as_of_date, as_of, team_costs.c.as_of_date))
        .order_by(team_costs.c.last_30_days_cost.desc(), team_costs.c.team)
    )


def services(as_of: dt.date | None) -> Select:
    report = service_cost_report.c
    return (
        select(report.service, report.team, report.last_30_days_cost, report.trend_pct, report.as_of_date)
        .where(_as_of(report.as_of_date, as_of, report.as_of_date))
        .order_by(report.last_30_days_cost.desc(), report.service)
    )


def service(name: str, as_of: dt.date | None) -> Select:
    return select(service_cost_report).where(
        service_cost_report.c.service == bindparam("service_name", name),
        _as_of(service_cost_report.c.as_of_date, as_of, service_cost_report.c.as_of_date),
    )


ECONOMICS_COLUMNS = [
    "customer_id", "customer_name", "as_of_date", "mrr", "monthly_infra_cost", "gross_margin_pct", "cost_breakdown",
    "cost_trend_pct", "is_negative_margin", "fully_loaded_cost", "fully_loaded_margin_pct", "missing_days",
]


def customers(as_of: dt.date | None, customer_id: str | None = None) -> Select:
    economics = customer_unit_economics.c
    query = select(*(economics[c] for c in ECONOMICS_COLUMNS)).where(_as_of(economics.as_of_date, as_of, economics.as_of_date))
    if customer_id is None:
        # No margin (no MRR) with cost is the worst case; no MRR and no cost is irrelevant.
        without_margin = case(
            (and_(economics.gross_margin_pct.is_(None), economics.monthly_infra_cost > 0), 0),
            (economics.gross_margin_pct.is_(None), 2),
            else_=1,
        )
        return query.where(economics.status == "active").order_by(
            without_margin, economics.gross_margin_pct, economics.customer_id
        )
    return query.where(economics.customer_id == bindparam("customer_id", customer_id))


HISTORY_COLUMNS = ["as_of_date", "mrr", "monthly_infra_cost", "gross_margin_pct", "fully_loaded_cost",
                   "fully_loaded_margin_pct", "missing_days", "customer_name"]


def customer_history(customer_id: str, as_of: dt.date | None, days: int) -> Select:
    """A customer's unit economics as of each day of the `days` up to as_of (default: the
    latest day of customer_unit_economics, as /costs/customers/{id} uses)."""
    economics = customer_unit_economics.c
    last = literal(as_of) if as_of else select(func.max(economics.as_of_date)).scalar_subquery()
    return (
        select(*(economics[c] for c in HISTORY_COLUMNS))
        .where(economics.customer_id == bindparam("customer_id", customer_id),
               economics.as_of_date <= last, economics.as_of_date > days_before(last, literal(days)))
        .order_by(economics.as_of_date)
    )


def _last_day(as_of: dt.date | None):
    return literal(as_of) if as_of else select(func.max(daily_team_costs.c.date)).scalar_subquery()


def _window(column, as_of: dt.date | None, days: int):
    last = _last_day(as_of)
    return and_(column <= last, column > days_before(last, literal(days)))


def customer_allocation(customer_id: str, as_of: dt.date | None, days: int) -> Select:
    """How a customer's cost of the window was placed: per service, method and rule, the cost
    placed and the cost of the pools it was split from (allocated / proportion, day by day)."""
    allocation = customer_cost_allocation.c
    return (
        select(
            allocation.service, allocation.allocation_method, allocation.rule,
            func.sum(allocation.allocated_cost).label("allocated_cost"),
            func.sum(allocation.allocated_cost / func.nullif(allocation.proportion, 0)).label("pooled_cost"),
            func.count(allocation.date.distinct()).label("days"),
            _last_day(as_of).label("as_of_date"),
        )
        .where(allocation.customer_id == bindparam("customer_id", customer_id), _window(allocation.date, as_of, days))
        .group_by(allocation.service, allocation.allocation_method, allocation.rule)
        .order_by(func.sum(allocation.allocated_cost).desc(), allocation.service, allocation.allocation_method)
    )


def customer_hops(customer_id: str, as_of: dt.date | None, days: int) -> Select:
    """Each hop of the customer's cost over the window: its customer_cost_allocation rows (a service's own
    dollars), the allocation_hops of dollars other services sent it, and every split between services of
    those origin services (whole pools)."""
    hops, placed = allocation_hops.c, customer_cost_allocation.c
    customer = bindparam("hops_customer_id", customer_id)
    mine = and_(hops.recipient_kind == "customer", hops.recipient == customer)
    staged_origins = select(hops.origin_service).where(mine, _window(hops.date, as_of, days)).distinct()
    own = select(
        placed.date, placed.stage, placed.rule, placed.allocation_method, placed.service.label("origin_service"),
        placed.service.label("from_service"), literal("customer").label("recipient_kind"),
        placed.customer_id.label("recipient"), placed.driver_service, placed.driver_metric, placed.driver_quantity,
        placed.allocated_cost.label("cost"),
    ).where(placed.customer_id == bindparam("own_customer_id", customer_id), _window(placed.date, as_of, days))
    staged = select(
        hops.date, hops.stage, hops.rule, hops.allocation_method, hops.origin_service, hops.from_service,
        hops.recipient_kind, hops.recipient, hops.driver_service, hops.driver_metric, hops.driver_quantity, hops.cost,
    ).where(_window(hops.date, as_of, days),
            mine | and_(hops.recipient_kind == "service", hops.origin_service.in_(staged_origins)))
    # customer_cost_allocation holds every origin's dollars a service placed: take the staged ones out of
    # the service's own line (its driver quantity counted once, there).
    received = select(
        hops.date, hops.stage, hops.rule, hops.allocation_method, hops.from_service.label("origin_service"),
        hops.from_service, hops.recipient_kind, hops.recipient, hops.driver_service, hops.driver_metric,
        literal(0.0).label("driver_quantity"), (-hops.cost).label("cost"),
    ).where(mine, _window(hops.date, as_of, days))
    every = union_all(own, staged, received).subquery()
    keys = [every.c.stage, every.c.rule, every.c.allocation_method, every.c.origin_service, every.c.from_service,
            every.c.recipient_kind, every.c.recipient, every.c.driver_service, every.c.driver_metric]
    return (
        select(*keys, func.sum(every.c.cost).label("cost"), func.sum(every.c.driver_quantity).label("driver_quantity"),
               func.count(every.c.date.distinct()).label("days"))
        .group_by(*keys)
        .having(func.abs(func.sum(every.c.cost)) >= HALF_MICRO_USD)
        .order_by(every.c.stage, every.c.origin_service, every.c.from_service, func.sum(every.c.cost).desc(),
                  every.c.recipient)
    )


def anomalies(as_of: dt.date | None) -> Select:
    """The week's anomalies, one row per root cause (cause_* columns null for an anomaly without any)."""
    causes = cost_anomaly_root_causes.c
    return (
        select(cost_anomalies, causes.dimension.label("cause_dimension"),
               causes.dimension_value.label("cause_value"), causes.impact_usd.label("cause_impact_usd"),
               causes.rank.label("cause_rank"))
        .outerjoin(cost_anomaly_root_causes, and_(causes.date == cost_anomalies.c.date,
                                                  causes.service == cost_anomalies.c.service))
        .where(_window(cost_anomalies.c.date, as_of, ANOMALY_DAYS))
        .order_by(cost_anomalies.c.date.desc(), cost_anomalies.c.severity, cost_anomalies.c.impact_usd.desc(),
                  cost_anomalies.c.service, causes.impact_usd.desc(), causes.dimension, causes.rank)
    )


def trend(as_of: dt.date | None, days: int) -> Select:
    summary = daily_team_costs.c
    return (
        select(summary.date, summary.team, summary.effective_cost.label("cost"), summary.is_estimated)
        .where(_window(summary.date, as_of, days))
        .order_by(summary.date, summary.team)
    )


def waste(as_of: dt.date | None) -> Select:
    return select(off_hours_waste).where(_as_of(off_hours_waste.c.as_of_date, as_of, off_hours_waste.c.as_of_date))


def forecast(as_of: dt.date | None) -> Select:
    """The company's and every customer's month-end forecast as of a day (default: the latest)."""
    f = cost_forecasts.c
    return (
        select(f.scope, f.scope_value, f.as_of_date, f.month_start, f.month_end, f.actual_to_date, f.forecast, f.low,
               f.high, f.mrr, f.forecast_margin_pct)
        .where(_as_of(f.as_of_date, as_of, f.as_of_date), f.scope.in_(["company", "customer"]))
        # Lowest forecast margin first; customers without a margin last.
        .order_by(f.scope, f.forecast_margin_pct.is_(None), f.forecast_margin_pct, f.scope_value)
    )
