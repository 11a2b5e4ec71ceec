# One image for every lienthong service; compose.yaml picks the service with `command`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# Runtime dependencies only (no dev extra, no embedded nats-server): setup.py generates the protobuf code
# from proto/ during the build, with grpcio-tools as a build requirement.
COPY pyproject.toml setup.py README.md ./
COPY proto ./proto
COPY lienthong ./lienthong
COPY services ./services
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app lienthong

USER lienthong
# Overridden per service in compose.yaml.
CMD ["python", "-m", "services.registry"]
