# Berth's images, from this one recipe:
#   the platform (the default target): web, worker, beat and relay all run from it (compose.yaml,
#     docs/kubernetes/berth-platform.yaml);
#   --target postgres: Debian's PostgreSQL, for the Kubernetes manifests.
# Front-end libraries come from npm at build time; nothing third-party is in the repository.
# The base images are arguments: with a registry, the official Node and Python images; with none,
# `manage.py build_platform_images` passes the debian:bookworm-slim Berth made with debootstrap,
# and the stages add Debian's Node and Python (3.11, as the official image's). EXTRA_CA_CERTS:
# certificate authorities the building host trusts beyond Debian's (a proxy that inspects TLS on
# the way to npm and PyPI), trusted by the images too; the command passes the host's own.
ARG NODE_IMAGE=node:20-bookworm-slim
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG DEBIAN_IMAGE=debian:bookworm-slim

FROM ${NODE_IMAGE} AS assets
ARG EXTRA_CA_CERTS=""
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
RUN { command -v npm > /dev/null || { apt-get -o Acquire::Retries=5 update \
    && apt-get -o Acquire::Retries=5 install -y --no-install-recommends nodejs npm ca-certificates \
    && rm -rf /var/lib/apt/lists/*; }; } \
 && if [ -n "$EXTRA_CA_CERTS" ]; then \
      printf '%s\n' "$EXTRA_CA_CERTS" > /usr/local/share/ca-certificates/build-host.crt && update-ca-certificates; fi
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY scripts/vendor-assets ./
RUN sh vendor-assets node_modules /vendor

FROM ${DEBIAN_IMAGE} AS postgres
RUN apt-get -o Acquire::Retries=5 update \
 && apt-get -o Acquire::Retries=5 install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/*
COPY scripts/postgres-entrypoint /usr/local/bin/
ENV PGDATA=/var/lib/postgresql/data/pgdata
EXPOSE 5432
ENTRYPOINT ["postgres-entrypoint"]

FROM ${PYTHON_IMAGE} AS platform
ARG EXTRA_CA_CERTS=""
ENV PYTHONUNBUFFERED=1 BERTH_DATA_DIR=/var/lib/berth PATH=/opt/berth/bin:$PATH \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt
RUN apt-get -o Acquire::Retries=5 update \
 && apt-get -o Acquire::Retries=5 install -y --no-install-recommends debootstrap dpkg-dev ca-certificates \
 && { command -v python3 > /dev/null || apt-get install -y --no-install-recommends python3 python3-venv; } \
 && rm -rf /var/lib/apt/lists/* \
 && if [ -n "$EXTRA_CA_CERTS" ]; then \
      printf '%s\n' "$EXTRA_CA_CERTS" > /usr/local/share/ca-certificates/build-host.crt && update-ca-certificates; fi \
 && python3 -m venv /opt/berth
WORKDIR /app
COPY pyproject.toml ./
# the dependencies first: a layer that a change to the code alone does not rebuild
RUN python3 -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt
COPY platform ./platform
RUN pip install --no-cache-dir --no-deps .
COPY . .
COPY --from=assets /vendor ./build/vendor
RUN DEBUG=1 python manage.py collectstatic --no-input -v 0
EXPOSE 8000
CMD ["uvicorn", "--app-dir", "platform", "berth.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--ws", "websockets-sansio", "--ws-max-size", "1048576"]
