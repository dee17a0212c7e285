from dagster._core.definitions.backfill_policy import BackfillPolicyType

from cost_assets.definitions import defs
from cost_assets.partitions import daily_partitions


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
