"""Every PostgreSQL URL form users write works for the warehouse, the product database and the API."""

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cost_assets.api.app import create_app
from cost_assets.definitions import defs
from cost_assets.demo import company
from cost_assets.resources.database import display_url, engine_for, normalize_url
from cost_assets.resources.product_db import ProductDatabase
from cost_assets.resources.warehouse import Warehouse
from cost_assets.settings import SettingError
from cost_assets_tests.helpers import materialize_days

FORMS = ["postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"]
FIRST, LAST = dt.date(2026, 11, 9), dt.date(2026, 11, 10)
TOKEN = "url-forms-token-0123456789"


def _with_scheme(url: str, scheme: str) -> str:
    return scheme + url[url.index("://"):]


@pytest.fixture
def product_db_url(postgres_schema_url):
    """A product database (its own schema) holding the demo company's customers and request counts."""
    schema = make_url(postgres_schema_url).query["options"].split("=", 1)[1] + "_app"
    url = make_url(postgres_schema_url).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
        company.customers(LAST).to_sql("customers", conn, index=False)
        company.service_metrics(FIRST, LAST).to_sql("service_metrics", conn, index=False)
    yield url.render_as_string(hide_password=False)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("scheme", FORMS)
def test_whole_graph_and_api_on_each_postgres_url_form(postgres_schema_url, product_db_url, scheme):
    url = _with_scheme(postgres_schema_url, scheme)
    result = materialize_days(list(defs.assets), Warehouse(url=url), FIRST, LAST,
                              product_db=ProductDatabase(url=_with_scheme(product_db_url, scheme)))
    assert result.success
    materialized = {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}
    assert materialized == {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}

    client = TestClient(create_app(url, TOKEN))
    answer = client.get("/costs/customers", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert len(answer.json()["customers"]) == len(company.customers(LAST).query("status == 'active'"))
    assert client.get("/costs/trend?days=2", headers={"Authorization": f"Bearer {TOKEN}"}).json()["trend"]


@pytest.mark.parametrize("scheme", FORMS)
def test_every_postgres_form_uses_psycopg_3(scheme):
    engine = engine_for(f"{scheme}://costs@db.internal:5432/costs")
    assert engine.dialect.driver == "psycopg"
    assert engine.url.database == "costs"


def test_password_with_raw_at_sign_parses_and_never_shows():
    raw = "postgresql://costs:p@ss:w/rd@db.internal:5432/costs?sslmode=require"
    url = normalize_url(raw)
    assert (url.username, url.password, url.host, url.database) == ("costs", "p@ss:w/rd", "db.internal", "costs")
    assert url.query["sslmode"] == "require"
    shown = display_url(raw)
    assert "ss" not in shown.split("@", 1)[1].split("/")[0]
    assert "p@ss" not in shown and "rd@" not in shown
    assert shown == "postgresql://costs:***@db.internal:5432/costs?sslmode=require"


def test_encoded_password_is_kept_as_written():
    url = normalize_url("postgresql://costs:p%40ss@db/costs")
    assert url.password == "p@ss"


def test_a_url_that_is_not_one_names_the_setting():
    with pytest.raises(SettingError, match="COST_APP_DB_URL"):
        normalize_url("not a url", "COST_APP_DB_URL")
