"""The job store: the one source of truth for whether a job exists, whose it is and where it stands.

Celery's own result state cannot serve (PENDING also means "unknown id"), so every job is a JSON record here,
plus a few indexes: per owner (listing), per status (metrics, caps), by expiry (retention), idempotency keys,
cancellation flags, rate-limit windows, worker heartbeats and stage-duration histograms.

Two implementations share one interface: ``RedisJobStore`` (API and workers in separate processes) and
``MemoryJobStore`` (``gld8tr serve`` embedded mode, everything in one process). Updates go through
``update(id, fn)``: read, let ``fn`` change a copy, write back atomically (WATCH/MULTI on Redis, a lock in
memory), so a worker's progress write can never undo the API's cancel or vice versa.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from service.schemas import ACTIVE_STATUSES, TERMINAL_STATUSES, JobRecord, utcnow

log = logging.getLogger(__name__)

STAGE_BUCKETS: tuple[float, ...] = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)
"""Upper bounds (seconds) of the stage-duration histogram buckets exposed on /metrics."""

Updater = Callable[[JobRecord], JobRecord | None]
"""Gets a copy of the record; returns the new record, or None to leave the stored one untouched."""


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different request body."""

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id


class ActiveJobLimit(Exception):
    """The owner already has ``max_active`` queued or running jobs; checked atomically with the creation."""

    def __init__(self, active: int, limit: int) -> None:
        super().__init__(f"{active} jobs queued or running; the limit is {limit}")
        self.active = active
        self.limit = limit


class JobStore(Protocol):
    def ping(self) -> None: ...
    def create(self, rec: JobRecord, max_active: int = 0) -> tuple[JobRecord, bool]: ...
    def get(self, job_id: str) -> JobRecord | None: ...
    def find_idempotent(self, owner: str, key: str) -> JobRecord | None: ...
    def update(self, job_id: str, fn: Updater) -> JobRecord | None: ...
    def delete(self, job_id: str) -> None: ...
    def list_owner(self, owner: str, offset: int, limit: int) -> tuple[list[JobRecord], int]: ...
    def count_active(self, owner: str) -> int: ...
    def ids_with_status(self, status: str) -> list[str]: ...
    def count_by_status(self) -> dict[str, int]: ...
    def request_cancel(self, job_id: str) -> None: ...
    def cancel_requested(self, job_id: str) -> bool: ...
    def due_for_purge(self, now: float) -> list[str]: ...
    def rate_limit(self, owner: str, limit: int, window_s: int = 60) -> float: ...
    def record_stage(self, stage: str, seconds: float) -> None: ...
    def stage_histograms(self) -> dict[str, tuple[list[int], float, int]]: ...
    def heartbeat(self, worker: str, ttl_s: float) -> None: ...
    def live_workers(self) -> list[str]: ...


def _bucket_index(seconds: float) -> int:
    for i, bound in enumerate(STAGE_BUCKETS):
        if seconds <= bound:
            return i
    return len(STAGE_BUCKETS)


def _purge_deadline(rec: JobRecord, retention_s: float) -> float:
    """When a finished job's record and files go (seconds since the epoch)."""
    assert rec.finished_at is not None
    return rec.finished_at.timestamp() + retention_s


def _touch(new: JobRecord, old: JobRecord, retention_s: float) -> tuple[JobRecord, float | None]:
    """Stamp ``updated_at`` and, on the first arrival in a terminal state, the purge deadline."""
    new.updated_at = utcnow()
    purge_at = None
    if new.status in TERMINAL_STATUSES:
        if new.finished_at is None:
            new.finished_at = new.updated_at
        if old.status not in TERMINAL_STATUSES:
            purge_at = _purge_deadline(new, retention_s)
    return new, purge_at


_CREATE_LUA = """
-- KEYS: idempotency key (or a dummy), job key, owner index, status set, owner's active set
-- ARGV: id, record JSON, created (epoch s), max active (0 = no cap), idempotency TTL, job key prefix, has idem key
if ARGV[7] == "1" then
  local existing = redis.call("GET", KEYS[1])
  if existing and redis.call("EXISTS", ARGV[6] .. existing) == 1 then
    return {"existing", existing}
  end
end
local cap = tonumber(ARGV[4])
if cap > 0 then
  local active = redis.call("SCARD", KEYS[5])
  if active >= cap then
    return {"cap", tostring(active)}
  end
end
if ARGV[7] == "1" then
  redis.call("SET", KEYS[1], ARGV[1], "EX", tonumber(ARGV[5]))
end
redis.call("SET", KEYS[2], ARGV[2])
redis.call("ZADD", KEYS[3], ARGV[3], ARGV[1])
redis.call("SADD", KEYS[4], ARGV[1])
redis.call("SADD", KEYS[5], ARGV[1])
return {"created", ARGV[1]}
"""


class RedisJobStore:
    """Job records and indexes in Redis under ``{prefix}:``; safe across processes."""

    def __init__(self, redis_url: str, prefix: str = "gld8tr", retention_s: float = 86400.0) -> None:
        import redis  # service extra; imported here so the module loads without it

        self.r = redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=5, socket_connect_timeout=5)
        self.p = prefix
        self.retention_s = retention_s
        self._watch_error = redis.WatchError
        self._create_script = self.r.register_script(_CREATE_LUA)

    def _k(self, *parts: str) -> str:
        return ":".join((self.p, *parts))

    def ping(self) -> None:
        self.r.ping()

    def create(self, rec: JobRecord, max_active: int = 0) -> tuple[JobRecord, bool]:
        """Create ``rec`` unless its Idempotency-Key names a live job (returned instead) or the owner already has
        ``max_active`` (> 0) active jobs (``ActiveJobLimit``): one Lua script, so concurrent requests cannot all
        pass the check before any of them is counted."""
        idem = self._k("idem", rec.owner, rec.idempotency_key) if rec.idempotency_key else ""
        keys = [idem or self._k("no-idem"), self._k("job", rec.id), self._k("owner", rec.owner),
                self._k("status", rec.status), self._k("active", rec.owner)]
        args = [rec.id, rec.model_dump_json(), rec.created_at.timestamp(), max_active, int(self.retention_s) + 3600,
                self._k("job", ""), "1" if idem else "0"]
        outcome, value = self._create_script(keys=keys, args=args)
        if outcome == "cap":
            raise ActiveJobLimit(int(value), max_active)
        if outcome == "existing":
            existing = self.get(value)
            if existing is not None:
                if existing.request_hash != rec.request_hash:
                    raise IdempotencyConflict(existing.id)
                return existing, False
            return self.create(rec, max_active)  # purged between the script and this read: try again
        return rec, True

    def get(self, job_id: str) -> JobRecord | None:
        raw = self.r.get(self._k("job", job_id))
        return JobRecord.model_validate_json(raw) if raw else None

    def find_idempotent(self, owner: str, key: str) -> JobRecord | None:
        job_id = self.r.get(self._k("idem", owner, key))
        return self.get(job_id) if job_id else None

    def update(self, job_id: str, fn: Updater) -> JobRecord | None:
        key = self._k("job", job_id)
        with self.r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    if not raw:
                        pipe.unwatch()
                        return None
                    old = JobRecord.model_validate_json(raw)
                    new = fn(old.model_copy(deep=True))
                    if new is None:
                        pipe.unwatch()
                        return old
                    new, purge_at = _touch(new, old, self.retention_s)
                    pipe.multi()
                    pipe.set(key, new.model_dump_json())
                    if new.status != old.status:
                        pipe.srem(self._k("status", old.status), job_id)
                        pipe.sadd(self._k("status", new.status), job_id)
                        if new.status not in ACTIVE_STATUSES:
                            pipe.srem(self._k("active", new.owner), job_id)
                    if purge_at is not None:
                        pipe.zadd(self._k("purge"), {job_id: purge_at})
                    pipe.execute()
                    return new
                except self._watch_error:
                    continue

    def delete(self, job_id: str) -> None:
        rec = self.get(job_id)
        pipe = self.r.pipeline()
        pipe.delete(self._k("job", job_id), self._k("cancel", job_id))
        pipe.zrem(self._k("purge"), job_id)
        if rec is not None:
            pipe.zrem(self._k("owner", rec.owner), job_id)
            pipe.srem(self._k("status", rec.status), job_id)
            pipe.srem(self._k("active", rec.owner), job_id)
            if rec.idempotency_key:
                pipe.delete(self._k("idem", rec.owner, rec.idempotency_key))
        pipe.execute()

    def list_owner(self, owner: str, offset: int, limit: int) -> tuple[list[JobRecord], int]:
        key = self._k("owner", owner)
        count = int(self.r.zcard(key))
        if offset >= count:  # also keeps offset + limit within Redis' 64-bit range
            return [], count
        ids = self.r.zrevrange(key, offset, offset + limit - 1)
        raws = self.r.mget([self._k("job", i) for i in ids]) if ids else []
        return [JobRecord.model_validate_json(r) for r in raws if r], count

    def count_active(self, owner: str) -> int:
        return int(self.r.scard(self._k("active", owner)))

    def ids_with_status(self, status: str) -> list[str]:
        return sorted(self.r.smembers(self._k("status", status)))

    def count_by_status(self) -> dict[str, int]:
        statuses = sorted(ACTIVE_STATUSES | TERMINAL_STATUSES)
        pipe = self.r.pipeline()
        for s in statuses:
            pipe.scard(self._k("status", s))
        return dict(zip(statuses, (int(n) for n in pipe.execute()), strict=True))

    def request_cancel(self, job_id: str) -> None:
        self.r.set(self._k("cancel", job_id), "1", ex=int(self.retention_s) + 3600)

    def cancel_requested(self, job_id: str) -> bool:
        return bool(self.r.exists(self._k("cancel", job_id)))

    def due_for_purge(self, now: float) -> list[str]:
        return list(self.r.zrangebyscore(self._k("purge"), "-inf", now))

    def rate_limit(self, owner: str, limit: int, window_s: int = 60) -> float:
        """Sliding window: allow if fewer than ``limit`` requests in the last ``window_s``; else seconds to wait.

        Refused requests are not counted, so a client that backs off as told gets in on time.
        """
        now = time.time()
        key = self._k("rl", owner)
        member = f"{now:.6f}-{uuid.uuid4().hex[:8]}"
        pipe = self.r.pipeline()
        pipe.zremrangebyscore(key, "-inf", now - window_s)
        pipe.zadd(key, {member: now})
        pipe.zcard(key)
        pipe.zrange(key, 0, 0, withscores=True)
        pipe.expire(key, window_s + 1)
        _, _, count, oldest, _ = pipe.execute()
        if count <= limit:
            return 0.0
        self.r.zrem(key, member)
        return max(0.001, oldest[0][1] + window_s - now)

    def record_stage(self, stage: str, seconds: float) -> None:
        key = self._k("stage", stage)
        pipe = self.r.pipeline()
        pipe.hincrby(key, f"b{_bucket_index(seconds)}", 1)
        pipe.hincrbyfloat(key, "sum", seconds)
        pipe.hincrby(key, "count", 1)
        pipe.sadd(self._k("stages"), stage)
        pipe.execute()

    def stage_histograms(self) -> dict[str, tuple[list[int], float, int]]:
        out = {}
        for stage in sorted(self.r.smembers(self._k("stages"))):
            h = self.r.hgetall(self._k("stage", stage))
            buckets = [int(h.get(f"b{i}", 0)) for i in range(len(STAGE_BUCKETS) + 1)]
            out[stage] = (buckets, float(h.get("sum", 0.0)), int(h.get("count", 0)))
        return out

    def heartbeat(self, worker: str, ttl_s: float) -> None:
        self.r.set(self._k("worker", worker), str(time.time()), px=int(ttl_s * 1000))

    def live_workers(self) -> list[str]:
        prefix = self._k("worker", "")
        return sorted(k[len(prefix) :] for k in self.r.scan_iter(match=prefix + "*", count=100))


class MemoryJobStore:
    """The same interface in one process's memory, for the embedded single-machine mode and unit tests.

    With ``persist_dir`` every record is also written there (one JSON file per job, replaced atomically on each
    change) and read back at construction, so a restarted ``gld8tr serve`` still knows its jobs: finished ones
    keep their files and retention, unfinished ones are listed by :meth:`unfinished` for the runner to redo.
    Rate-limit windows, cancel flags, heartbeats and histograms stay in memory (they are meaningless across a
    restart: the worker that would read a cancel flag is gone with it).
    """

    def __init__(self, retention_s: float = 86400.0, persist_dir: Path | None = None) -> None:
        self.retention_s = retention_s
        self.persist_dir = persist_dir
        self._lock = threading.RLock()
        self._jobs: dict[str, str] = {}  # id -> JSON, so callers never share mutable records
        self._idem: dict[tuple[str, str], str] = {}
        self._cancel: set[str] = set()
        self._purge: dict[str, float] = {}
        self._rl: dict[str, list[float]] = {}
        self._stages: dict[str, tuple[list[int], float, int]] = {}
        self._workers: dict[str, float] = {}
        if persist_dir is not None:
            persist_dir.mkdir(parents=True, exist_ok=True)
            self._load()

    # ----------------------------------------------------------------------------------------- persistence
    def _path(self, job_id: str) -> Path:
        assert self.persist_dir is not None
        return self.persist_dir / f"{job_id}.json"

    def _write(self, job_id: str, raw: str) -> None:
        self._jobs[job_id] = raw
        if self.persist_dir is None:
            return
        tmp = self._path(job_id).with_suffix(".json.tmp")
        with tmp.open("w") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self._path(job_id))

    def _load(self) -> None:
        assert self.persist_dir is not None
        for path in sorted(self.persist_dir.glob("*.json")):
            try:
                rec = JobRecord.model_validate_json(path.read_text())
            except (OSError, ValueError) as exc:
                # Never silently: the file is kept aside for a human, the service starts without it.
                log.error("job record %s is unreadable (%s); moved to %s.bad", path, exc, path.name)
                path.replace(path.with_suffix(".json.bad"))
                continue
            self._jobs[rec.id] = rec.model_dump_json()
            if rec.idempotency_key:
                self._idem[(rec.owner, rec.idempotency_key)] = rec.id
            if rec.status in TERMINAL_STATUSES and rec.finished_at is not None:
                self._purge[rec.id] = _purge_deadline(rec, self.retention_s)
        if self._jobs:
            log.info("job store: %d job records read from %s", len(self._jobs), self.persist_dir)

    def unfinished(self) -> list[str]:
        """Ids of queued or running jobs, oldest first: after a restart, jobs nobody is working on."""
        with self._lock:
            active = [r for r in self._all() if r.status in ACTIVE_STATUSES]
        return [r.id for r in sorted(active, key=lambda r: r.created_at)]

    def ping(self) -> None:
        return None

    def _all(self) -> list[JobRecord]:
        return [JobRecord.model_validate_json(raw) for raw in self._jobs.values()]

    def create(self, rec: JobRecord, max_active: int = 0) -> tuple[JobRecord, bool]:
        with self._lock:
            if rec.idempotency_key:
                existing_id = self._idem.get((rec.owner, rec.idempotency_key))
                existing = self.get(existing_id) if existing_id else None
                if existing is not None:
                    if existing.request_hash != rec.request_hash:
                        raise IdempotencyConflict(existing.id)
                    return existing, False
            if max_active > 0 and (active := self.count_active(rec.owner)) >= max_active:
                raise ActiveJobLimit(active, max_active)
            if rec.idempotency_key:
                self._idem[(rec.owner, rec.idempotency_key)] = rec.id
            self._write(rec.id, rec.model_dump_json())
            return rec, True

    def get(self, job_id: str) -> JobRecord | None:
        raw = self._jobs.get(job_id)
        return JobRecord.model_validate_json(raw) if raw else None

    def find_idempotent(self, owner: str, key: str) -> JobRecord | None:
        job_id = self._idem.get((owner, key))
        return self.get(job_id) if job_id else None

    def update(self, job_id: str, fn: Updater) -> JobRecord | None:
        with self._lock:
            old = self.get(job_id)
            if old is None:
                return None
            new = fn(old.model_copy(deep=True))
            if new is None:
                return old
            new, purge_at = _touch(new, old, self.retention_s)
            self._write(job_id, new.model_dump_json())
            if purge_at is not None:
                self._purge[job_id] = purge_at
            return new

    def delete(self, job_id: str) -> None:
        with self._lock:
            rec = self.get(job_id)
            self._jobs.pop(job_id, None)
            if self.persist_dir is not None:
                self._path(job_id).unlink(missing_ok=True)
            self._cancel.discard(job_id)
            self._purge.pop(job_id, None)
            if rec is not None and rec.idempotency_key:
                self._idem.pop((rec.owner, rec.idempotency_key), None)

    def list_owner(self, owner: str, offset: int, limit: int) -> tuple[list[JobRecord], int]:
        with self._lock:
            mine = sorted((r for r in self._all() if r.owner == owner), key=lambda r: r.created_at, reverse=True)
        return mine[offset : offset + limit], len(mine)

    def count_active(self, owner: str) -> int:
        with self._lock:
            return sum(1 for r in self._all() if r.owner == owner and r.status in ACTIVE_STATUSES)

    def ids_with_status(self, status: str) -> list[str]:
        with self._lock:
            return sorted(r.id for r in self._all() if r.status == status)

    def count_by_status(self) -> dict[str, int]:
        counts = dict.fromkeys(sorted(ACTIVE_STATUSES | TERMINAL_STATUSES), 0)
        with self._lock:
            for r in self._all():
                counts[r.status] += 1
        return counts

    def request_cancel(self, job_id: str) -> None:
        with self._lock:
            self._cancel.add(job_id)

    def cancel_requested(self, job_id: str) -> bool:
        return job_id in self._cancel

    def due_for_purge(self, now: float) -> list[str]:
        with self._lock:
            return [i for i, t in self._purge.items() if t <= now]

    def rate_limit(self, owner: str, limit: int, window_s: int = 60) -> float:
        now = time.time()
        with self._lock:
            hits = [t for t in self._rl.get(owner, []) if t > now - window_s]
            if len(hits) >= limit:
                self._rl[owner] = hits
                return max(0.001, hits[0] + window_s - now)
            self._rl[owner] = [*hits, now]
        return 0.0

    def record_stage(self, stage: str, seconds: float) -> None:
        with self._lock:
            buckets, total, count = self._stages.get(stage, ([0] * (len(STAGE_BUCKETS) + 1), 0.0, 0))
            buckets = list(buckets)
            buckets[_bucket_index(seconds)] += 1
            self._stages[stage] = (buckets, total + seconds, count + 1)

    def stage_histograms(self) -> dict[str, tuple[list[int], float, int]]:
        with self._lock:
            return dict(sorted(self._stages.items()))

    def heartbeat(self, worker: str, ttl_s: float) -> None:
        with self._lock:
            self._workers[worker] = time.time() + ttl_s

    def live_workers(self) -> list[str]:
        now = time.time()
        with self._lock:
            return sorted(w for w, until in self._workers.items() if until > now)
