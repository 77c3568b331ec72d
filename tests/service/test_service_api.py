"""The API against real Redis and SeaweedFS, served by uvicorn, with no worker running (jobs stay queued)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import MAX_ACTIVE, RATE_LIMIT, ApiServer
from PIL import Image
from service_helpers import bucket_keys, encode_npy, encode_png, scene_depth, scene_image, submit

pytestmark = pytest.mark.service

PNG = encode_png(scene_image())
NPY = encode_npy(scene_depth())


def _problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["status"] == status and body["title"]
    return body


def _cancel_all(api: ApiServer, who: str) -> None:
    with api.client(who) as c:
        for job in c.get("/scenes", params={"limit": 100}).json()["data"]:
            c.delete(f"/scenes/{job['id']}")


def test_health_docs_and_readiness_without_worker(api: ApiServer) -> None:
    with api.client(None) as c:
        assert c.get("/healthz").json()["status"] == "ok"
        ready = c.get("/readyz")
        assert ready.status_code == 503  # broker and storage up, but no worker yet
        checks = ready.json()["checks"]
        assert checks["broker"] == "ok" and checks["storage"] == "ok" and checks["workers"].startswith("error")
        assert c.get("/docs").status_code == 200
        paths = c.get("/openapi.json").json()["paths"]
        assert {"/scenes", "/scenes/{job_id}", "/scenes/{job_id}/files/{name}"} <= set(paths)


def test_auth_required(api: ApiServer) -> None:
    with api.client(None) as c:
        body = _problem(c.get("/scenes"), 401)
        assert "Bearer" in body["detail"]
        _problem(c.get("/scenes", headers={"Authorization": "Bearer not-a-key"}), 401)
        _problem(c.post("/scenes", files={"image": ("a.png", PNG, "image/png")}), 401)


def _bad_requests() -> list[tuple[str, dict, dict, int]]:
    gif = io.BytesIO()
    Image.fromarray(scene_image()).save(gif, format="GIF")
    bomb = io.BytesIO()  # 2000 x 2000 = 4 MP > the 1 MP test limit, yet only a few KB on the wire
    Image.new("L", (2000, 2000)).save(bomb, format="PNG")
    jpeg = io.BytesIO()
    Image.fromarray(scene_image()).save(jpeg, format="JPEG")
    depth8 = encode_png(np.zeros((64, 96), np.uint8))
    obj_npy = io.BytesIO()
    np.save(obj_npy, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    img = ("photo.png", PNG, "image/png")
    return [
        ("not an image", {"image": ("x.png", b"hello, not a picture", "image/png")}, {}, 415),
        ("gif", {"image": ("x.gif", gif.getvalue(), "image/gif")}, {}, 415),
        ("too many pixels", {"image": ("big.png", bomb.getvalue(), "image/png")}, {}, 422),
        ("truncated jpeg", {"image": ("t.jpg", jpeg.getvalue()[: len(jpeg.getvalue()) // 2], "image/jpeg")}, {}, 422),
        ("too large upload", {"image": ("huge.png", b"\x89PNG" + bytes(1_200_000), "image/png")}, {}, 413),
        ("bad mode", {"image": img}, {"mode": "orbit"}, 422),
        ("prompt too long", {"image": img}, {"prompt": "x" * 201}, 422),
        ("fov out of range", {"image": img}, {"fov_deg": "0.5"}, 422),
        ("fov not a number", {"image": img}, {"fov_deg": "wide"}, 422),
        ("unknown output", {"image": img}, {"outputs": "scene.ply,secrets.txt"}, 422),
        ("webhook not allowed", {"image": img}, {"webhook": "http://169.254.169.254/latest/meta-data"}, 422),
        ("depth size", {"image": img, "depth": ("d.npy", encode_npy(np.ones((10, 10), np.float32)), "x")}, {}, 422),
        ("depth 8-bit png", {"image": img, "depth": ("d.png", depth8, "image/png")}, {}, 415),
        ("depth pickle", {"image": img, "depth": ("d.npy", obj_npy.getvalue(), "x")}, {}, 422),
        ("missing image", {"depth": ("d.npy", NPY, "x")}, {}, 422),
    ]


def test_bad_inputs_get_4xx_and_store_nothing(api: ApiServer, service_env: dict[str, str]) -> None:
    with api.client("b") as c:
        for name, files, data, status in _bad_requests():
            resp = c.post("/scenes", files=files, data=data)
            assert resp.status_code == status, f"{name}: {resp.status_code} {resp.text}"
            assert resp.headers["content-type"].startswith("application/problem+json"), name
        assert c.get("/scenes").json()["count"] == 0
    assert bucket_keys(service_env) == []


def test_oversized_chunked_upload_is_cut_off_with_413(api: ApiServer, service_env: dict[str, str]) -> None:
    """No Content-Length to refuse up front: the body is counted as it streams in and cut at the limit."""

    def body():
        yield b'--b0undary\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
        yield b"Content-Type: image/png\r\n\r\n" + PNG
        for _ in range(40):  # 40 x 64 KB = 2.5 MB > 1 MB
            yield bytes(64 * 1024)

    with api.client("b") as c:
        resp = c.post("/scenes", content=body(), headers={"Content-Type": "multipart/form-data; boundary=b0undary"})
        assert "content-length" not in {k.lower() for k in resp.request.headers}
        _problem(resp, 413)
        assert c.get("/scenes").json()["count"] == 0
    assert bucket_keys(service_env) == []


def test_rate_limit_answers_429_with_retry_after(api: ApiServer) -> None:
    with api.client("c") as c:
        for _ in range(RATE_LIMIT):  # prompt too long: counted by the limiter, then refused before any work
            resp = c.post("/scenes", files={"image": ("p.png", PNG, "image/png")}, data={"prompt": "x" * 300})
            assert resp.status_code == 422
        body = _problem(c.post("/scenes", files={"image": ("p.png", PNG, "image/png")}), 429)
        assert "per minute" in body["detail"]
        resp = c.post("/scenes", files={"image": ("p.png", PNG, "image/png")})
        assert 1 <= int(resp.headers["Retry-After"]) <= 60


def test_active_job_cap_and_cancel_of_queued_job(api: ApiServer, service_env: dict[str, str]) -> None:
    with api.client("d") as c:
        ids = []
        for seed in range(MAX_ACTIVE):
            resp = submit(c, seed=seed)
            assert resp.status_code == 202, resp.text
            assert resp.headers["Location"] == f"/scenes/{resp.json()['id']}"
            assert resp.json()["status"] == "queued"
            ids.append(resp.json()["id"])
        assert len(bucket_keys(service_env, ids[0])) == 2  # image + depth
        over = _problem(submit(c, seed=99), 429)
        assert "limit" in over["detail"]

        cancel = c.delete(f"/scenes/{ids[0]}")
        assert cancel.status_code == 202 and cancel.json()["status"] == "canceled"
        assert c.get(f"/scenes/{ids[0]}").json()["status"] == "canceled"
        assert bucket_keys(service_env, ids[0]) == []
        assert submit(c, seed=99).status_code == 202  # a slot is free again
        # A finished (canceled) job can be deleted outright.
        assert c.delete(f"/scenes/{ids[0]}").status_code == 204
        _problem(c.get(f"/scenes/{ids[0]}"), 404)
    _cancel_all(api, "d")


def test_idempotent_resubmission(api: ApiServer) -> None:
    with api.client("a") as c:
        first = submit(c, seed=5, headers={"Idempotency-Key": "order-42"})
        again = submit(c, seed=5, headers={"Idempotency-Key": "order-42"})
        assert first.status_code == again.status_code == 202
        assert again.json()["id"] == first.json()["id"]
        assert again.headers.get("Idempotent-Replayed") == "true"
        changed = submit(c, seed=6, headers={"Idempotency-Key": "order-42"})
        assert _problem(changed, 422)["type"].endswith("idempotency-conflict")
        other = submit(c, seed=5)
        assert other.json()["id"] != first.json()["id"]
    with api.client("b") as c:  # keys are scoped per caller
        assert submit(c, seed=5, headers={"Idempotency-Key": "order-42"}).json()["id"] != first.json()["id"]
    _cancel_all(api, "a")
    _cancel_all(api, "b")


def test_one_key_cannot_see_another_keys_jobs(api: ApiServer) -> None:
    with api.client("a") as a, api.client("b") as b:
        job = submit(a).json()
        _problem(b.get(f"/scenes/{job['id']}"), 404)
        _problem(b.get(f"/scenes/{job['id']}/files/scene.ply"), 404)
        _problem(b.delete(f"/scenes/{job['id']}"), 404)
        assert job["id"] not in [j["id"] for j in b.get("/scenes", params={"limit": 100}).json()["data"]]
        assert a.get(f"/scenes/{job['id']}").json()["status"] == "queued"
        _problem(a.get(f"/scenes/{job['id']}/files/scene.ply"), 404)  # not finished: no files yet
    _cancel_all(api, "a")


def test_listing_is_paginated_newest_first(api: ApiServer) -> None:
    with api.client("b") as c:
        ids = [submit(c, seed=s).json()["id"] for s in range(3)]
        page1 = c.get("/scenes", params={"limit": 2}).json()
        page2 = c.get("/scenes", params={"limit": 2, "offset": 2}).json()
        assert page1["count"] == page2["count"] >= 3
        assert [j["id"] for j in page1["data"]] == ids[::-1][:2]
        assert page2["data"][0]["id"] == ids[0]
        _problem(c.get("/scenes", params={"limit": 0}), 422)
    _cancel_all(api, "b")


def test_metrics_exposes_job_counts_and_queue_depth(api: ApiServer) -> None:
    with api.client("a") as c:
        submit(c, seed=11)
        text = c.get("/metrics").text
    assert 'gld8tr_jobs{status="queued"}' in text
    assert "gld8tr_queue_depth" in text and "gld8tr_http_request_duration_seconds_bucket" in text
    _cancel_all(api, "a")

