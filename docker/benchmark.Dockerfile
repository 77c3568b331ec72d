# Batch container for `gld8tr benchmark`: runs one benchmark to completion, writes its tables, exits.
# Build (CPU):  docker build -f docker/benchmark.Dockerfile -t gld8tr-bench .
# Build (GPU):  docker build -f docker/benchmark.Dockerfile -t gld8tr-bench-gpu \
#                 --build-arg BASE=nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04 --build-arg TORCH_INDEX=cu124 .
# Run:          docker run --rm -v "$PWD/results:/results" gld8tr-bench \
#                 --dataset synthetic --limit 50 --out /results/synthetic
#               docker run --rm -v /datasets/scannet:/data:ro -v "$PWD/results:/results" gld8tr-bench \
#                 --dataset scannet --root /data --stride 50 --offsets 10 --out /results/scannet
# The output folder is resumable: rerunning the same command after an interruption scores only missing pairs.
ARG BASE=python:3.11.11-slim-bookworm
FROM ${BASE}

ARG TORCH_INDEX=cpu
ENV DEBIAN_FRONTEND=noninteractive PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 MPLBACKEND=Agg HF_HUB_OFFLINE=1

# The CUDA base image has no Python of its own; the slim image has one and skips this.
RUN if ! command -v python3.11 >/dev/null; then \
        apt-get update && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# torch first, pinned to the version CI tests, from the CPU or CUDA index; the project install keeps it.
RUN pip install --upgrade pip \
    && pip install "torch==2.13.0" --index-url "https://download.pytorch.org/whl/${TORCH_INDEX}"

WORKDIR /app
COPY pyproject.toml README.md ./
COPY core ./core
COPY gld8tr ./gld8tr
COPY training ./training
COPY benchmark ./benchmark
# The Middlebury pair ships inside the scikit-image wheel: check it loads, so the container runs offline.
RUN pip install ".[bench,data]" \
    && python -c "import skimage.data as d; d.stereo_motorcycle()"

RUN useradd --create-home --uid 10001 gld8tr && mkdir -p /results && chown gld8tr /results
USER gld8tr
VOLUME ["/results"]

ENTRYPOINT ["gld8tr", "benchmark"]
CMD ["--dataset", "middlebury", "--out", "/results/middlebury"]
