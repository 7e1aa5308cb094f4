# incident-bridge container image. Configure with BRIDGE_* environment variables
# (see README.md); mount your rules/ and runbooks/ over the shipped examples.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    BRIDGE_DATABASE_URL=sqlite:////data/incident-bridge.db \
    BRIDGE_RULES_DIR=/app/rules BRIDGE_RUNBOOKS_DIR=/app/runbooks \
    BRIDGE_ENVIRONMENT=production BRIDGE_LOG_FORMAT=json

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
COPY rules ./rules
COPY runbooks ./runbooks
RUN pip install --no-cache-dir -e . && useradd --system --uid 10001 bridge \
    && mkdir -p /data && chown bridge /data

USER bridge
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz')"
CMD ["incident-bridge", "serve", "--host", "0.0.0.0", "--port", "8080"]
