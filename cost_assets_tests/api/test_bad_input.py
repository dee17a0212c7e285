"""Bad input to the cost API answers 4xx, never 500; sessions, headers and tokens are handled safely."""

import time

import pytest
from fastapi.testclient import TestClient

from cost_assets.api import security
from cost_assets.api.app import create_app
from cost_assets_tests.api.conftest import AUTH, TOKEN
from cost_assets_tests.api.test_api import ENDPOINTS


@pytest.mark.parametrize("path", ["/costs/customers/cust%00007", "/costs/services/shared%00db",
                                  "/costs/customers/c%002/allocation", "/costs/customers/cust%FF007",
                                  "/costs/customers/cust%ED%A0%80"])
def test_a_nul_byte_or_broken_utf8_in_a_path_is_refused_not_an_error(read_only_client, path):
    response = read_only_client.get(path, headers=AUTH)
    assert response.status_code in (404, 422), response.text


EDGE_DAYS = ["0001-01-01", "0001-01-31", "1970-01-01", "1999-12-31", "2000-01-01", "2000-01-02", "3000-01-01",
             "9999-01-01", "9999-12-31"]


@pytest.mark.parametrize("as_of", EDGE_DAYS)
def test_days_at_the_edges_of_the_calendar_answer_without_error(read_only_client, as_of):
    for path in ENDPOINTS + ["/costs/trend?days=730", "/costs/customers/c2/allocation?days=730"]:
        separator = "&" if "?" in path else "?"
        response = read_only_client.get(f"{path}{separator}as_of={as_of}", headers=AUTH)
        assert response.status_code in (200, 404, 422), f"{path} as_of={as_of}: {response.status_code} {response.text}"
        if response.status_code == 422:
            assert response.json()["detail"][0]["loc"] == ["query", "as_of"]


def test_a_day_before_2000_is_refused_naming_the_earliest_day(read_only_client):
    response = read_only_client.get("/costs/waste?as_of=0001-01-01", headers=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"] == [{"loc": ["query", "as_of"], "type": "value_error",
                                          "msg": "0001-01-01 is before 2000-01-01, the earliest day the API answers for"}]
    assert read_only_client.get("/costs/waste?as_of=2000-01-01", headers=AUTH).json()["asOf"] == "2000-01-01"


@pytest.mark.parametrize("days", ["0", "-1", "731", "99999999999999999999", "1.5", "1e3", ""])
@pytest.mark.parametrize("path", ["/costs/trend", "/costs/customers/c2/allocation"])
def test_days_out_of_range_are_422(read_only_client, path, days):
    response = read_only_client.get(f"{path}?days={days}", headers=AUTH)
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("query, name", [("as_of=2026-03-31&as_of=2026-03-30", "as_of"), ("days=1&days=30", "days"),
                                         ("as_of=2026-03-31&days=3&as_of=2026-03-31", "as_of")])
def test_a_repeated_parameter_is_refused_naming_it(read_only_client, query, name):
    response = read_only_client.get(f"/costs/trend?{query}", headers=AUTH)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["query", name]]
    assert read_only_client.get(f"/costs/teams?{query.replace('days', 'as_of')}", headers=AUTH).status_code == 422


def test_the_session_cookie_is_a_signed_expiring_value_not_the_token(read_only_client):
    response = read_only_client.post("/session", headers=AUTH)
    cookie = response.headers["set-cookie"]
    value = response.cookies[security.SESSION_COOKIE]
    assert TOKEN not in cookie and TOKEN not in value
    attributes = {part.strip().split("=")[0].lower(): part for part in cookie.split(";")}
    assert {"httponly", "max-age", "path"} <= set(attributes) and "secure" not in attributes  # plain http here
    assert attributes["samesite"].strip().lower() == "samesite=strict"
    assert read_only_client.get("/costs/teams").status_code == 200  # the session cookie opens the API

    def with_cookie(cookie_value):
        fresh = TestClient(read_only_client.app, raise_server_exceptions=False)
        fresh.cookies.set(security.SESSION_COOKIE, cookie_value)
        return fresh.get("/costs/teams").status_code

    assert with_cookie(value) == 200
    assert with_cookie(TOKEN) == 401  # the token itself is no session
    assert with_cookie(security.new_session(TOKEN, now=time.time() - security.SESSION_SECONDS - 1)) == 401  # expired
    assert with_cookie(security.new_session("another-token")) == 401  # signed by another server
    expiry, nonce, signature = value.split(".")
    assert with_cookie(f"{int(expiry) + 10**6}.{nonce}.{signature}") == 401  # a longer life, forged
    assert with_cookie("") == 401 and with_cookie("..") == 401 and with_cookie("x.y.z") == 401
    assert not security.session_is_valid("²..x", TOKEN)  # a digit to str.isdigit, not to int()


def test_the_session_cookie_is_secure_over_https(api_warehouse):
    https = TestClient(create_app(api_warehouse.resolved_url, TOKEN), base_url="https://testserver")
    cookie = https.post("/session", headers=AUTH).headers["set-cookie"]
    assert "secure" in [part.strip().lower() for part in cookie.split(";")]
    assert https.get("/").status_code == 200


@pytest.mark.parametrize("path, status", [("/costs/teams", 200), ("/costs/teams?asof=2026-01-01", 422),
                                          ("/costs/services/nope", 404), ("/", 200), ("/static/dashboard.css", 200),
                                          ("/static/dashboard.js", 200), ("/costs/customers/c1/history", 200),
                                          ("/openapi.json", 200), ("/docs", 200), ("/nowhere", 404)])
def test_every_response_refuses_framing_and_sniffing(read_only_client, path, status):
    for headers, expected in [(AUTH, status), ({}, 401 if path in ("/costs/teams", "/", "/costs/customers/c1/history") else None)]:
        response = read_only_client.get(path, headers=headers)
        if expected is not None:
            assert response.status_code == expected
        assert response.headers["x-frame-options"] == "DENY"
        policy = response.headers["content-security-policy"]
        if path == "/docs":  # Swagger UI comes from a CDN with an inline script
            assert policy == "frame-ancestors 'none'"
        else:
            assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy and "unsafe-eval" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"


def test_an_internal_error_also_carries_the_headers(client, api_warehouse):
    from sqlalchemy import text

    with api_warehouse.engine.begin() as conn:
        conn.execute(text("DROP TABLE team_costs"))
    response = client.get("/costs/teams", headers=AUTH)
    assert response.status_code == 500 and response.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("path", [f"/?token={TOKEN}", f"/costs/teams?token={TOKEN}", f"/session?access_token={TOKEN}",
                                  f"/static/dashboard.css?Token={TOKEN}"])
def test_a_token_in_the_query_string_is_refused(read_only_client, path):
    response = read_only_client.request("POST" if path.startswith("/session") else "GET", path)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "query" and "Authorization" in response.text
    assert TOKEN not in response.text
    assert security.SESSION_COOKIE not in response.headers.get("set-cookie", "")


def test_the_access_log_shows_only_known_parameter_values():
    assert security.redact_query("/costs/trend?days=7&as_of=2026-03-31") == "/costs/trend?days=7&as_of=2026-03-31"
    assert security.redact_query(f"/?token={TOKEN}") == "/?***=***"
    assert security.redact_query(f"/costs/teams?{TOKEN}&as_of=2026-03-31") == "/costs/teams?***=***&as_of=2026-03-31"
    assert security.redact_query("/costs/teams") == "/costs/teams"


def test_an_unreachable_warehouse_answers_503(postgres_schema_url):
    from cost_assets_tests.api.test_cli import free_port
    from sqlalchemy.engine import make_url

    down = make_url(postgres_schema_url).set(host="127.0.0.1", port=free_port()).render_as_string(hide_password=False)
    response = TestClient(create_app(down, TOKEN), raise_server_exceptions=False).get("/costs/teams", headers=AUTH)
    assert response.status_code == 503
    assert response.json() == {"detail": "warehouse unavailable, try again later"}
