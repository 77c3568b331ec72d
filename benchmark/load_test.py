"""Load test for the web service: submit N jobs with bounded concurrency, poll them to the end, report numbers.

    python -m benchmark.load_test --url http://127.0.0.1:8000 --jobs 50 --concurrency 8 [--api-key KEY]

Each client task submits one job (``POST /scenes`` with a small synthetic photo and depth map), then polls
``GET /scenes/{id}`` until the job ends. Reported: API latency percentiles per operation (submit, poll), jobs
finished per minute (wall clock from the first submit to the last finish), and the status counts. Small images
by default, so on a CPU box this measures the service (HTTP, validation, Redis, S3, queueing), not the GPU.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import statistics
import sys
import time
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger("gld8tr.load_test")


@dataclass
class Samples:
    submit_s: list[float] = field(default_factory=list)
    poll_s: list[float] = field(default_factory=list)
    job_s: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    http_errors: dict[str, int] = field(default_factory=dict)


def synthetic_inputs(width: int, height: int, seed: int) -> tuple[bytes, bytes]:
    """A textured PNG photo and a matching .npy depth map (metres), different per seed."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([xx / width * 255, yy / height * 255, np.full_like(xx, 128)], axis=-1)
    img += rng.normal(0, 8, img.shape)
    png = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(png, format="PNG")
    depth = (4.0 - 2.5 * yy / height + 0.3 * np.sin(xx / 9 + seed)).astype(np.float32)
    npy = io.BytesIO()
    np.save(npy, depth, allow_pickle=False)
    return png.getvalue(), npy.getvalue()


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    q = np.percentile(np.asarray(values) * 1000.0, [50, 90, 95, 99])
    return {
        "n": len(values),
        "p50_ms": round(float(q[0]), 2),
        "p90_ms": round(float(q[1]), 2),
        "p95_ms": round(float(q[2]), 2),
        "p99_ms": round(float(q[3]), 2),
        "mean_ms": round(statistics.fmean(values) * 1000.0, 2),
        "max_ms": round(max(values) * 1000.0, 2),
    }


async def one_job(client, args: argparse.Namespace, seed: int, samples: Samples, sem: asyncio.Semaphore) -> None:
    import httpx

    async with sem:
        png, npy = synthetic_inputs(args.width, args.height, seed)
        files = {"image": ("photo.png", png, "image/png")}
        if not args.no_depth:
            files["depth"] = ("depth.npy", npy, "application/octet-stream")
        t0 = time.perf_counter()
        try:
            resp = await client.post("/scenes", files=files, data={"mode": args.mode, "seed": str(seed)})
        except httpx.HTTPError as exc:
            samples.http_errors[type(exc).__name__] = samples.http_errors.get(type(exc).__name__, 0) + 1
            return
        samples.submit_s.append(time.perf_counter() - t0)
        if resp.status_code != 202:
            key = f"submit {resp.status_code}"
            samples.http_errors[key] = samples.http_errors.get(key, 0) + 1
            return
        job_id = resp.json()["id"]
        if args.submit_only:
            return
        status = "timeout"
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            await asyncio.sleep(args.poll_interval)
            t1 = time.perf_counter()
            poll = await client.get(f"/scenes/{job_id}")
            samples.poll_s.append(time.perf_counter() - t1)
            status = poll.json().get("status", "?")
            if status in ("succeeded", "failed", "canceled"):
                break
        samples.job_s.append(time.perf_counter() - t0)
        samples.statuses[status] = samples.statuses.get(status, 0) + 1


async def run(args: argparse.Namespace) -> dict:
    import httpx

    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    samples = Samples()
    sem = asyncio.Semaphore(args.concurrency)
    async with httpx.AsyncClient(base_url=args.url, headers=headers, timeout=60, limits=limits) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(one_job(client, args, args.seed + i, samples, sem) for i in range(args.jobs)))
        wall = time.perf_counter() - t0
    finished = sum(samples.statuses.values())
    return {
        "url": args.url,
        "jobs": args.jobs,
        "concurrency": args.concurrency,
        "mode": args.mode,
        "image": f"{args.width}x{args.height}",
        "wall_s": round(wall, 2),
        "submits_per_s": round(len(samples.submit_s) / wall, 2) if wall else None,
        "jobs_per_minute": round(60.0 * samples.statuses.get("succeeded", 0) / wall, 2) if finished else None,
        "statuses": samples.statuses,
        "errors": samples.http_errors,
        "latency": {
            "submit": percentiles(samples.submit_s),
            "poll": percentiles(samples.poll_s),
            "job_end_to_end": percentiles(samples.job_s),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--mode", default="single", choices=["single", "stage", "360"])
    parser.add_argument("--width", type=int, default=96)
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--no-depth", action="store_true", help="let the worker's depth model predict depth")
    parser.add_argument("--poll-interval", type=float, default=0.25)
    parser.add_argument("--timeout", type=float, default=600, help="give up polling a job after this (s)")
    parser.add_argument("--submit-only", action="store_true", help="measure POST /scenes only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the report to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    report = asyncio.run(run(args))
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 0 if not report["errors"] and report["statuses"].get("timeout", 0) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
