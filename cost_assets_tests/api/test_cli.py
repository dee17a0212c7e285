"""`cost-api` as users start it: a real uvicorn server on a real port."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from cost_assets_tests.api.conftest import TOKEN

COST_API = Path(sys.executable).with_name("cost-api")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RunningApi:
    """`cost-api` in a subprocess on a free port, serving `warehouse_url`."""

    def __init__(self, warehouse_url: str):
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "COST_WAREHOUSE_URL": warehouse_url, "COST_API_TOKEN": TOKEN}
        self.process = subprocess.Popen([str(COST_API), "--host", "127.0.0.1", "--port", str(port)], env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(200):
            try:
                httpx.get(f"{self.base}/openapi.json", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"cost-api did not start: {self.stop()}")

    def stop(self) -> str:
        self.process.terminate()
        return self.process.communicate(timeout=10)[0]


def test_cost_api_serves_the_warehouse_over_http(api_warehouse):
    api = RunningApi(api_warehouse.resolved_url)
    try:
        teams = httpx.get(f"{api.base}/costs/teams", headers={"Authorization": f"Bearer {TOKEN}"})
        assert teams.status_code == 200
        assert teams.json()["teams"][0] == {"team": "platform", "totalCost": 3000.0, "serviceCount": 3}
        assert httpx.get(f"{api.base}/costs/teams").status_code == 401
        # The session cookie is Secure when a TLS proxy on this host says the client used HTTPS.
        plain = httpx.post(f"{api.base}/session", headers={"Authorization": f"Bearer {TOKEN}"})
        proxied = httpx.post(f"{api.base}/session", headers={"Authorization": f"Bearer {TOKEN}", "X-Forwarded-Proto": "https"})
        assert "secure" not in plain.headers["set-cookie"].lower() and "; secure" in proxied.headers["set-cookie"].lower()
    finally:
        output = api.stop()
    assert "GET /costs/teams" in output
    assert TOKEN not in output  # the token is never logged


def test_the_access_log_never_shows_a_token_from_a_query_string(api_warehouse):
    api = RunningApi(api_warehouse.resolved_url)
    try:
        assert httpx.get(f"{api.base}/?token={TOKEN}").status_code == 422  # not taken: the header or /#token= only
        assert httpx.get(f"{api.base}/costs/teams?{TOKEN}", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 422
        assert httpx.get(f"{api.base}/costs/trend?days=3&as_of=2026-03-31",
                         headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    finally:
        output = api.stop()
    assert TOKEN not in output
    assert '"GET /?***=*** HTTP/1.1" 422' in output
    assert '"GET /costs/trend?days=3&as_of=2026-03-31 HTTP/1.1" 200' in output  # the parameters of the API still show


def test_cost_api_refuses_to_start_without_a_token(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "COST_API_TOKEN"}
    env["COST_WAREHOUSE_URL"] = f"sqlite:///{tmp_path / 'w.db'}"
    completed = subprocess.run([str(COST_API), "--port", str(free_port())], env=env, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2
    assert "COST_API_TOKEN is not set" in completed.stderr
