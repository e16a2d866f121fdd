# The service processes' image, used by docker-compose.yml.
# The web app's npm assets, pinned by web/package-lock.json (no CDN at run time).
FROM node:20-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY events events
COPY projections projections
COPY imports imports
COPY writemodel writemodel
COPY services services
RUN pip install --no-cache-dir .
COPY web/app web/app
COPY --from=web /web/node_modules web/node_modules
ENV PYTHONUNBUFFERED=1 LEDGER_WEB_DIR=/app/web
