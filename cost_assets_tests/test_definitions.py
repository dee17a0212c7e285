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


def test_resources_show_their_configuration_and_secrets_only_by_name(monkeypatch, tmp_path):
    """The Dagster UI shows each resource's config: literal defaults, and set settings as EnvVars
    (the name, never the value: a warehouse password or webhook URL stays hidden)."""
    from dagster import EnvVar

    from cost_assets.definitions import resources

    monkeypatch.delenv("COST_WAREHOUSE_URL", raising=False)
    monkeypatch.delenv("COST_ALERT_WEBHOOK_URL", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    defaults = resources()
    assert defaults["warehouse"].url == f"sqlite:///{tmp_path / 'cost_warehouse.db'}"
    assert defaults["warehouse"].statement_timeout_s == 900

    monkeypatch.setenv("COST_WAREHOUSE_URL", "postgresql://costs:hunter2@db/costs")
    monkeypatch.setenv("COST_ALERT_WEBHOOK_URL", "https://hooks.slack.com/services/T/B/secret")
    configured = resources()
    assert configured["warehouse"].url == EnvVar("COST_WAREHOUSE_URL")
    assert configured["alert_webhook"].url == EnvVar("COST_ALERT_WEBHOOK_URL")
    assert "hunter2" not in repr(configured) and "secret" not in repr(configured)
