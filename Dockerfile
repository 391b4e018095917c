# One image for every service of docker-compose.yml: the project installed with uv, with the
# dev and load extras (pytest, ruff, mypy; locust), entry points mock-exchange, btcbot, chaos
# and locust on PATH. Build context: the repository root.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_SYSTEM_PYTHON=1

WORKDIR /app

RUN pip install --no-cache-dir "uv>=0.9,<1"

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY mock_exchange ./mock_exchange
COPY chaos ./chaos
COPY benchmarks ./benchmarks
COPY examples ./examples

RUN uv pip install --system --no-cache -e '.[dev,load]'

RUN useradd --create-home --uid 10001 testbed \
    && mkdir -p /var/chaos /results /var/mock \
    && chown testbed /app /var/chaos /results /var/mock
USER testbed

EXPOSE 8080 9108 5557
CMD ["mock-exchange", "serve", "--host", "0.0.0.0", "--port", "8080"]
