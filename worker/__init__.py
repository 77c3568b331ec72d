"""The GPU worker: a Celery app whose one task runs core.pipeline on a job from the store."""
