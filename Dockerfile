# The observ services: one image, the command picks the role.
#   docker run observ:0.1.0 serve --bootstrap kafka:9092 ...   query service + ingester (the default: serve)
#   docker run observ:0.1.0 ingest --bootstrap kafka:9092 ...  ingester alone, /metrics on 9181
#   docker run observ:0.1.0 up ...                             single node, no broker
# Build from the repository root: docker build -t observ:0.1.0 .  (docs/deploy.md)

FROM python:3.11.13-slim-bookworm AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/observ
WORKDIR /src
COPY pyproject.toml ./
COPY observ ./observ
COPY collectors ./collectors
RUN /opt/observ/bin/pip install --no-cache-dir --no-compile .

FROM python:3.11.13-slim-bookworm
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="observ" \
      org.opencontainers.image.description="observ services: Kafka ingester, Loki/Tempo-compatible query service, single node" \
      org.opencontainers.image.version="${VERSION}"
ENV PATH=/opt/observ/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/var/lib/observ \
    OBSERV_HEALTHZ_URL=http://127.0.0.1:3100/healthz
RUN groupadd --gid 10001 observ \
 && useradd --uid 10001 --gid 10001 --home-dir /var/lib/observ --no-create-home --shell /usr/sbin/nologin observ \
 && mkdir -p /var/lib/observ \
 && chown 10001:10001 /var/lib/observ
COPY --from=builder /opt/observ /opt/observ
WORKDIR /var/lib/observ
USER 10001
VOLUME ["/var/lib/observ"]
# 3100 Loki/Tempo API and OTLP/HTTP, 4317 OTLP/gRPC, 9181 `observ ingest` metrics
EXPOSE 3100 4317 9181
# python's urllib: slim images have no curl. `ingest` answers on 9181: set OBSERV_HEALTHZ_URL for that role.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['OBSERV_HEALTHZ_URL'], timeout=4)"]
ENTRYPOINT ["observ"]
CMD ["serve", "--host", "0.0.0.0", "--data", "/var/lib/observ", "--create"]
