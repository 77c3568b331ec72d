"""Prometheus metrics: job counts by status, queue depth, live workers, stage durations, HTTP latency.

Job and stage figures are read from the job store at scrape time (the workers write them there), so every API
replica reports the same cluster-wide numbers and nothing is lost when a process restarts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from service.jobstore import STAGE_BUCKETS, JobStore
from service.queue import JobRunner

log = logging.getLogger(__name__)


class ServiceCollector(Collector):
    def __init__(self, store: JobStore, runner: JobRunner) -> None:
        self.store = store
        self.runner = runner

    def collect(self) -> Iterator[Metric]:
        try:
            jobs = GaugeMetricFamily("gld8tr_jobs", "jobs known to the store, by status", labels=["status"])
            for status, n in self.store.count_by_status().items():
                jobs.add_metric([status], n)
            yield jobs
            yield GaugeMetricFamily("gld8tr_queue_depth", "jobs waiting in the broker queue",
                                    value=self.runner.queue_depth())
            yield GaugeMetricFamily("gld8tr_workers", "workers with a fresh heartbeat",
                                    value=len(self.runner.live_workers()))
            stages = HistogramMetricFamily("gld8tr_stage_duration_seconds", "time spent per pipeline stage",
                                           labels=["stage"])
            for stage, (counts, total, _count) in self.store.stage_histograms().items():
                cumulative, buckets = 0, []
                for bound, n in zip((*map(str, STAGE_BUCKETS), "+Inf"), counts, strict=True):
                    cumulative += n
                    buckets.append((bound, cumulative))
                stages.add_metric([stage], buckets, total)
            yield stages
        except Exception as exc:  # a scrape must not fail because Redis blinked
            log.warning("metrics collection failed: %s", exc)


class Metrics:
    def __init__(self, store: JobStore, runner: JobRunner) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(ServiceCollector(store, runner))
        self.http_latency = Histogram(
            "gld8tr_http_request_duration_seconds", "API latency", ["method", "route", "status"],
            registry=self.registry, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )

    def observe(self, method: str, route: str, status: int, started: float) -> None:
        self.http_latency.labels(method, route, str(status)).observe(time.perf_counter() - started)
