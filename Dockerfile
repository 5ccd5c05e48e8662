# The Berth platform image for compose.yaml (web, worker, beat and relay all run from it).
# Front-end libraries come from npm at build time; nothing third-party is in the repository.
FROM node:20-bookworm-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error \
 && mkdir -p /vendor \
 && cp node_modules/@xterm/xterm/lib/xterm.js node_modules/@xterm/xterm/css/xterm.css \
       node_modules/@xterm/addon-fit/lib/addon-fit.js node_modules/htmx.org/dist/htmx.min.js \
       node_modules/mermaid/dist/mermaid.min.js node_modules/axe-core/axe.min.js /vendor/

FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 BERTH_DATA_DIR=/var/lib/berth
RUN apt-get update \
 && apt-get install -y --no-install-recommends debootstrap dpkg-dev ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml ./
COPY platform ./platform
RUN pip install --no-cache-dir .
COPY . .
COPY --from=assets /vendor ./build/vendor
RUN DEBUG=1 python manage.py collectstatic --no-input -v 0
EXPOSE 8000
CMD ["uvicorn", "--app-dir", "platform", "berth.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--ws", "websockets-sansio", "--ws-max-size", "1048576"]
