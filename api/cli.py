"""``gld8tr serve``: the web service, embedded (API + in-process worker + local files) or API only."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where embedded mode keeps uploads and results (default: GLD8TR_DATA_DIR)")
    parser.add_argument("--api-only", action="store_true",
                        help="serve the API only, against Redis, S3 and separate `gld8tr worker` processes")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (--api-only only)")


def main(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from api.settings import get_settings

    settings = get_settings()
    if args.data_dir is not None:
        settings = settings.model_copy(update={"data_dir": args.data_dir})
    if args.api_only:
        log.info("API only on %s:%d: jobs go to queue %r on %s", args.host, args.port, settings.queue,
                 settings.celery_broker_url)
        if args.workers > 1:  # each uvicorn process builds its own app from the same environment
            uvicorn.run("api.app:app_from_env", factory=True, host=args.host, port=args.port,
                        workers=args.workers, log_config=None, proxy_headers=True)
            return 0
        app = create_app(settings, embedded=False)
    else:
        if args.workers != 1:
            log.warning("embedded mode runs one process; ignoring --workers")
        app = create_app(settings, embedded=True)
        log.info("embedded service on %s:%d, data in %s", args.host, args.port, settings.data_dir.resolve())
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, proxy_headers=True)
    return 0
