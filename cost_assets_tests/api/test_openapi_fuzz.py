"""Schemathesis against /openapi.json: no 5xx and no response that breaks the schema."""

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from cost_assets.api.app import create_app
from cost_assets.resources.warehouse import Warehouse
from cost_assets_tests.api.conftest import TOKEN, fill


def _schema():
    # Built at import: schemathesis generates its tests from the schema at collection.
    warehouse = Warehouse(url=f"sqlite:///{Path(tempfile.mkdtemp(prefix='cost-api-fuzz-')) / 'warehouse.db'}")
    fill(warehouse)
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(warehouse.resolved_url, TOKEN))


schema = _schema()


@schema.auth()
class BearerToken:
    """The API's bearer token, applied the way schemathesis expects auth to be."""

    def get(self, case, context):
        return TOKEN

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_schema(case):
    case.call_and_validate()
