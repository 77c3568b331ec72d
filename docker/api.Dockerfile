# API image: FastAPI under uvicorn, no torch (the API process never imports it).
# Build:  docker build -f docker/api.Dockerfile -t gld8tr-api .
FROM python:3.11.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY core ./core
COPY service ./service
COPY api ./api
COPY worker ./worker
COPY gld8tr ./gld8tr
COPY training ./training
COPY benchmark ./benchmark
# --no-deps: the project's base dependencies include torch, which only the worker needs. The API needs the
# service extra plus the torch-free part of core (core.io: numpy, pillow, plyfile, pydantic).
RUN pip install --no-deps . \
    && pip install "numpy>=1.26" "pillow>=10" "plyfile>=1.0" "pydantic>=2.6" "pydantic-settings>=2.2" \
       "fastapi>=0.110" "uvicorn>=0.29" "python-multipart>=0.0.9" "celery[redis]>=5.3" "redis>=5" \
       "boto3>=1.34" "prometheus-client>=0.20" "httpx>=0.27" \
    && python -c "import api.app, service.jobs, gld8tr.commands.serve, sys; assert 'torch' not in sys.modules"

RUN useradd --create-home --uid 10001 gld8tr
USER gld8tr
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
CMD ["gld8tr", "serve", "--api-only", "--host", "0.0.0.0", "--port", "8000"]
