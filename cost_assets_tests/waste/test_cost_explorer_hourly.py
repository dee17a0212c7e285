"""Cost Explorer HOURLY through moto into hourly_costs and off_hours_waste, and the not-enabled case."""

from __future__ import annotations

import pytest

from cost_assets.ingestion.assets import billing_costs
from cost_assets.ingestion.sources.cost_explorer import CostExplorerSource, make_client
from cost_assets.ingestion.billing_source import BillingSourceResource
from cost_assets.waste import queries
from cost_assets.waste.assets import off_hours_waste
from cost_assets_tests.helpers import materialize_days
from cost_assets_tests.ingestion.test_cost_explorer import (  # noqa: F401 - fixtures
    D1,
    TODAY,
    aws_env,
    moto_ce,
    moto_server,
    one_day_daily_answers,
    one_day_hourly_answers,
    refuse_hourly,
)


@pytest.fixture
def cost_explorer(monkeypatch, moto_ce):  # noqa: F811
    """COST_SOURCE=cost_explorer with COST_CE_HOURLY=1 on moto, `today` pinned; returns the refusals log."""
    for name in ["COST_WORK_HOURS", "COST_WORK_DAYS", "COST_WORK_TIMEZONE", "COST_WASTE_ENVIRONMENTS"]:
        monkeypatch.delenv(name, raising=False)
    state = {"refuse": None, "refused": []}

    def source(name):
        assert name == "cost_explorer"
        ce = CostExplorerSource(make_client(), hourly=True, today=TODAY)
        if state["refuse"]:
            state["refused"] = refuse_hourly(ce.client, *state["refuse"])
        return ce

    monkeypatch.setattr("cost_assets.ingestion.billing_source.get_source", source)
    return state


def _ce_metadata(result) -> dict:
    event = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "daily_costs"][0]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_hourly_rows_reach_hourly_costs_and_off_hours_waste_without_double_counting(
        sqlite_warehouse, moto_ce, cost_explorer):  # noqa: F811
    moto_ce(*one_day_daily_answers(), *one_day_hourly_answers())
    result = materialize_days([billing_costs, off_hours_waste], sqlite_warehouse, D1, D1,
                              billing=BillingSourceResource(source="cost_explorer"))

    daily = sqlite_warehouse.read("SELECT effective_cost FROM daily_costs")
    hourly = sqlite_warehouse.read("SELECT hour_start, effective_cost, environment FROM hourly_costs")
    assert daily["effective_cost"].tolist() == [30.0]  # DAILY only: the hourly $30 is not added
    assert len(hourly) == 24 and hourly["effective_cost"].sum() == pytest.approx(30.0)
    assert _ce_metadata(result)["ce_hourly"] == "fetched 2026-01-05 (24 hourly line items)"
    waste = queries.waste_rows(sqlite_warehouse, D1).iloc[0]
    # Monday 2026-01-05, UTC working hours: 12 off-hours at $2, 12 working hours at $0.50.
    assert (waste.environment, waste.total_cost, waste.off_hours_cost) == ("staging", 30.0, 24.0)
    assert (waste.hours_observed, waste.off_hours_observed) == (24, 12)


def test_hourly_not_enabled_does_not_fail_and_keeps_the_hourly_rows_already_fetched(
        sqlite_warehouse, moto_ce, cost_explorer):  # noqa: F811
    billing = BillingSourceResource(source="cost_explorer")
    moto_ce(*one_day_daily_answers(), *one_day_hourly_answers())
    materialize_days([billing_costs], sqlite_warehouse, D1, D1, billing=billing)
    before = sqlite_warehouse.read("SELECT * FROM hourly_costs ORDER BY hour_start")

    # Later the opt-in is switched off: AWS refuses HOURLY requests.
    cost_explorer["refuse"] = ("AccessDeniedException", "HOURLY data is not publicly supported yet")
    moto_ce(*one_day_daily_answers())
    result = materialize_days([billing_costs], sqlite_warehouse, D1, D1, billing=billing)

    assert result.success and cost_explorer["refused"] == ["AccessDeniedException"]
    assert _ce_metadata(result)["ce_hourly"].startswith("not available: Cost Explorer has no hourly data")
    assert sqlite_warehouse.read("SELECT effective_cost FROM daily_costs")["effective_cost"].tolist() == [30.0]
    assert sqlite_warehouse.read("SELECT * FROM hourly_costs ORDER BY hour_start").equals(before)
