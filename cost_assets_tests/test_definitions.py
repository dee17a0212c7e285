import datetime as dt

from dagster._core.definitions.backfill_policy import BackfillPolicyType

from cost_assets.definitions import defs
from cost_assets.partitions import daily_partitions
from cost_assets_tests.helpers import materialize_days


def test_definitions_load_and_every_asset_is_daily_with_single_run_backfills():
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"daily_costs", "hourly_costs", "customer_snapshots", "service_metrics"} <= keys
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.partitions_def == daily_partitions, key
        assert node.backfill_policy is not None and node.backfill_policy.policy_type == BackfillPolicyType.SINGLE_RUN, key


def test_daily_partitions_are_utc_days():
    assert daily_partitions.timezone == "UTC"
    assert daily_partitions.cron_schedule == "0 0 * * *"


def test_every_asset_materializes_on_both_warehouses(warehouse):
    """The whole daily pipeline over the demo, as the schedule runs it, on SQLite and PostgreSQL."""
    assets = list(defs.assets)
    result = materialize_days(assets, warehouse, dt.date(2026, 11, 8), dt.date(2026, 11, 11))
    assert result.success
    materialized = {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}
    assert materialized == {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    days = warehouse.read("SELECT COUNT(DISTINCT as_of_date) AS n FROM customer_unit_economics")
    assert days["n"].iloc[0] == 4
