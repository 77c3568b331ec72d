# Batch container for `gld8tr train`: one data-parallel training run under torchrun, then exit.
# Build (GPU):  docker build -f docker/train.Dockerfile -t gld8tr-train .
# Build (CPU):  docker build -f docker/train.Dockerfile -t gld8tr-train-cpu \
#                 --build-arg BASE=python:3.11-slim --build-arg TORCH_INDEX=cpu .
# Run, all GPUs of one machine (NPROC = the number of GPUs; NCCL, one process per GPU):
#   docker run --rm --gpus all --shm-size 8g -e NPROC=8 -v "$PWD/runs:/runs" -v /datasets/photos:/data:ro \
#     gld8tr-train --config configs/base.yaml --out /runs/base
# The run folder is resumable: add --resume to the same command after an interruption. /data holds optional
# self-training photos (set `self_training.images: /data` in the recipe); /runs receives checkpoints and logs.
# Several machines: run it on each with -e NNODES=N -e NODE_RANK=i -e MASTER_ADDR=host0 -e MASTER_PORT=29500
# and --network host.
ARG BASE=nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04
FROM ${BASE}

ARG TORCH_INDEX=cu124
ENV DEBIAN_FRONTEND=noninteractive PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 MPLBACKEND=Agg HF_HUB_OFFLINE=1 \
    NPROC=1 NNODES=1 NODE_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500

# The CUDA base image has no Python of its own; the slim image has one and skips this.
RUN if ! command -v python3.11 >/dev/null; then \
        apt-get update && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# torch first, pinned to the version CI tests, from the CUDA (or CPU) index; the project install keeps it.
RUN pip install --upgrade pip \
    && pip install "torch==2.13.0" --index-url "https://download.pytorch.org/whl/${TORCH_INDEX}"

WORKDIR /app
COPY pyproject.toml README.md ./
COPY core ./core
COPY training ./training
COPY benchmark ./benchmark
COPY configs ./configs
COPY examples ./examples
# Editable: the synthetic engine reads its photographic textures from /app/examples beside the code.
RUN pip install -e ".[data,bench]" && python -c "import skimage.data as d; d.astronaut()"

RUN useradd --create-home --uid 10001 gld8tr && mkdir -p /runs /data && chown gld8tr /runs
USER gld8tr
VOLUME ["/runs", "/data"]

# torchrun starts NPROC copies of `gld8tr train` (gloo on CPU, NCCL on GPU; rank 0 writes /runs).
ENTRYPOINT ["sh", "-c", "exec torchrun --nnodes \"$NNODES\" --node_rank \"$NODE_RANK\" --nproc_per_node \"$NPROC\" \
--master_addr \"$MASTER_ADDR\" --master_port \"$MASTER_PORT\" --no-python gld8tr train \"$@\"", "gld8tr-train"]
CMD ["--config", "configs/base.yaml", "--out", "/runs/base"]
