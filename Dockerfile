# syntax=docker/dockerfile:1
# Shouwang image: one image per hardware flavour, two entry points (README, "Commands"):
#   shouwang run /etc/shouwang/site.yaml   the worker (cameras → detection → alerts)
#   shouwang serve                         the web service (dashboard, police API, store)
#
#   docker build --target cpu -t shouwang:cpu .
#   docker build --target gpu -t shouwang:gpu .     # CUDA 12 + cuDNN 9, onnxruntime-gpu
#
# Python packages come from requirements.lock with --no-deps, exactly as scripts/setup
# installs them; the models ship inside those packages and are checked and converted to
# ONNX at build time, so a pod starts with no download. Runs as uid 10001, and works with
# a read-only root file system: state goes to /var/lib/shouwang (outbox, evidence,
# watchlists: a persistent volume) and scratch to /tmp (an emptyDir).
# docs/k8s.md explains the build and the deployment.

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
ARG ONNXRUNTIME_GPU=1.31.1

# ---- build: a virtual environment with the locked packages and the prepared models ----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    SHOUWANG_CACHE_DIR=/opt/shouwang/cache
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY requirements.lock pyproject.toml ./
RUN python -m venv /opt/shouwang/venv \
 && /opt/shouwang/venv/bin/python -m pip install -q --no-deps -r requirements.lock
COPY . .
RUN /opt/shouwang/venv/bin/python -m pip install -q --no-deps --no-build-isolation . \
 && /opt/shouwang/venv/bin/shouwang models check \
 && /opt/shouwang/venv/bin/shouwang models prepare

# ---- build-gpu: the same environment, ONNX Runtime swapped for its CUDA build ----
FROM build AS build-gpu
ARG ONNXRUNTIME_GPU
RUN /opt/shouwang/venv/bin/python -m pip uninstall -q -y onnxruntime \
 && /opt/shouwang/venv/bin/python -m pip install -q --no-deps "onnxruntime-gpu==${ONNXRUNTIME_GPU}"

# ---- cpu: the runtime image for CPU nodes ----
FROM ${PYTHON_IMAGE} AS cpu
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /var/lib/shouwang shouwang \
 && install -d -o 10001 -g 10001 /var/lib/shouwang /etc/shouwang
COPY --from=build /opt/shouwang /opt/shouwang
ENV PATH=/opt/shouwang/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    SHOUWANG_CACHE_DIR=/opt/shouwang/cache \
    SHOUWANG_DATA_DIR=/var/lib/shouwang \
    SHOUWANG_PROVIDER=cpu \
    SHOUWANG_HEALTH_URL=http://127.0.0.1:9108/metrics
USER 10001:10001
WORKDIR /var/lib/shouwang
VOLUME ["/var/lib/shouwang"]
EXPOSE 9108 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['SHOUWANG_HEALTH_URL'], timeout=4)"]
ENTRYPOINT ["shouwang"]
CMD ["run", "/etc/shouwang/site.yaml"]

# ---- gpu: the runtime image for GPU nodes (NVIDIA container toolkit) ----
FROM ${CUDA_IMAGE} AS gpu
# The Python of the build stage (Debian 12, glibc 2.36) runs on Ubuntu 24.04 (glibc 2.39).
COPY --from=build /usr/local /usr/local
RUN ldconfig \
 && useradd --uid 10001 --user-group --no-create-home --home-dir /var/lib/shouwang shouwang \
 && install -d -o 10001 -g 10001 /var/lib/shouwang /etc/shouwang
COPY --from=build-gpu /opt/shouwang /opt/shouwang
# video: NVDEC/NVENC for hardware decode; compute: CUDA for ONNX Runtime.
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,video \
    PATH=/opt/shouwang/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    SHOUWANG_CACHE_DIR=/opt/shouwang/cache \
    SHOUWANG_DATA_DIR=/var/lib/shouwang \
    SHOUWANG_PROVIDER=cuda \
    SHOUWANG_HEALTH_URL=http://127.0.0.1:9108/metrics
USER 10001:10001
WORKDIR /var/lib/shouwang
VOLUME ["/var/lib/shouwang"]
EXPOSE 9108 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['SHOUWANG_HEALTH_URL'], timeout=4)"]
ENTRYPOINT ["shouwang"]
CMD ["run", "/etc/shouwang/site.yaml"]
