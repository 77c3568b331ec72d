"""The job domain of the web service, torch-free and HTTP-free: settings, schemas, the job store, storage,
webhooks, the queue (Celery app and runners) and the job state machine (``service.jobs``).

``api`` (HTTP) and ``worker`` (execution) both build on this package and never import each other; this package
imports neither of them (nor torch, nor FastAPI), only ``core``'s torch-free parts.
"""
