"""A storage restart while jobs wait: the worker's retry budget must outlast it (issue 10).

Its own SeaweedFS (with the compose identities), API and `gld8tr worker`, on their own Redis key prefix and queue.
A job is queued with no worker running, S3 is killed, the worker starts and finds storage gone (connection
refused, then 5xx while the restarted server brings its volumes back); S3 comes back after 20 s. The job must
succeed on a retry instead of failing once the old ~14 s of backoff ran out.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import ApiServer, SeaweedS3, Worker
from service_helpers import submit, wait_status

pytestmark = [pytest.mark.service, pytest.mark.slow]


def test_job_survives_a_20_second_storage_restart(
    service_env: dict[str, str], key_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    s3 = SeaweedS3(tmp_path_factory.mktemp("outage-s3")).start()
    env = {**service_env, "GLD8TR_KEY_PREFIX": f"{key_prefix}-outage", "GLD8TR_QUEUE": f"{key_prefix}-outage",
           "GLD8TR_S3_ENDPOINT_URL": s3.url}
    api = ApiServer(env, Path(tmp_path_factory.mktemp("outage-api")))
    worker = Worker({**env, "GLD8TR_S3_CREATE_BUCKET": "false"}, Path(tmp_path_factory.mktemp("outage-worker")))
    try:
        with api.client("a") as c:
            resp = submit(c, mode="single", seed=21)
            assert resp.status_code == 202, resp.text
            job_id = resp.json()["id"]
            s3.kill()
            down_at = time.monotonic()
            worker.start()  # its first attempts find no storage
            while time.monotonic() - down_at < 20:
                assert c.get(f"/scenes/{job_id}").json()["status"] in ("queued", "running")
                time.sleep(1)
            s3.start(wait=False)  # same ports, same data; it takes a while to serve again
            try:
                job = wait_status(c, job_id, {"succeeded", "failed", "canceled"}, timeout=240)
            except TimeoutError as exc:
                pytest.fail(f"{exc}\nworker log:\n{worker.log()[-6000:]}")
            assert job["status"] == "succeeded", (job, worker.log()[-4000:])
        assert "transient error, retry" in worker.log()
    finally:
        worker.stop()
        api.stop()
        s3.kill()
