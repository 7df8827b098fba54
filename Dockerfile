# trichat's container image: the same `trichat run` as on a laptop, configured by
# environment (compose.yaml sets REDIS_URL and DATABASE_URL).
FROM python:3.11-slim
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY migrations ./migrations
COPY docs/protocol.md ./docs/
RUN pip install --no-cache-dir . && rm -rf /src
WORKDIR /var/lib/trichat
RUN chown nobody /var/lib/trichat
USER nobody
ENV HOST=0.0.0.0 PORT=8080 TRICHAT_DATA_DIR=/var/lib/trichat TRICHAT_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=3s \
  CMD python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8080/api/v1/chat/health', timeout=2)"
CMD ["trichat", "run"]
