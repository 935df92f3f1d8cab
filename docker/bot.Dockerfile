# The bot and the web page: aiogram (with aiohttp), arq, SQLAlchemy — no torch, no models. Also runs the database
# migrations.
#   docker build -f docker/bot.Dockerfile -t voicebot-bot .
FROM python:3.11-slim-bookworm

ARG PIP_CERT=
ARG PIP_FIND_LINKS=
ARG TORCH_INDEX_URL=

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    DATABASE_URL=sqlite+aiosqlite:////data/voicebot.db

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot bot
COPY core core
COPY migrations migrations
COPY ml ml
COPY worker worker
COPY voicebot voicebot
COPY web web
RUN python3 -m venv /opt/venv \
    && pip install . \
    && useradd --create-home --uid 10001 voicebot \
    && mkdir -p /data /web-data && chown voicebot /data /web-data

USER voicebot
ENTRYPOINT ["voicebot"]
CMD ["bot"]
