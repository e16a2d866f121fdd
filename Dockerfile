# The service processes' image, used by docker-compose.yml.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY events events
COPY projections projections
COPY services services
RUN pip install --no-cache-dir .
ENV PYTHONUNBUFFERED=1
