"""The API's last-resort answers, over a real uvicorn server and a pooled HTTP client.

A route that hits a bug answers 500 problem+json and the client's pooled keep-alive connection stays usable (it
used to be dropped without ``Connection: close``, failing the next request); a route whose Redis is unreachable
answers 503 problem+json with ``Retry-After``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from api.app import create_app
from service.jobstore import MemoryJobStore, RedisJobStore
from service.queue import CeleryRunner
from service.settings import Settings
from service.storage import LocalStorage


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    settings = Settings(storage="local", data_dir=tmp_path, redis_url="redis://127.0.0.1:1/0")
    store = MemoryJobStore()
    app = create_app(settings, store=store, storage=LocalStorage(tmp_path / "objects"),
                     runner=CeleryRunner(settings, store))
    dead_redis = RedisJobStore("redis://127.0.0.1:1/0")

    def boom() -> dict:
        raise RuntimeError("a bug")

    def store_down() -> dict:
        dead_redis.get("x")  # connection refused
        return {}

    app.add_api_route("/boom", boom)
    app.add_api_route("/store-down", store_down)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def test_a_500_keeps_the_pooled_connection_usable(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        for _ in range(10):
            bad = client.get("/boom")
            assert bad.status_code == 500
            assert bad.headers["content-type"] == "application/problem+json"
            assert bad.json()["title"] == "Internal Server Error" and "a bug" not in bad.text  # no internals leak
            assert client.get("/healthz").status_code == 200  # same pooled connection: still works


def test_an_unreachable_store_is_503_with_retry_after(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        resp = client.get("/store-down")
        assert resp.status_code == 503, resp.text
        assert resp.headers["content-type"] == "application/problem+json"
        assert int(resp.headers["retry-after"]) > 0 and resp.json()["status"] == 503
        assert client.get("/healthz").status_code == 200
