# Wishstar's own image: `wishstar serve` (webhook receiver, API, workers) as a non-root user.
# Installed from the repository with the exact versions of requirements.lock (a constraints file: it has no
# hashes, so --require-hashes does not apply; scripts/lock.sh regenerates it). charts/wishstar runs it.
#
#   scripts/wishstar-image.sh build        builds it here with buildah (FROM resolved through the local mirror)
#
# A build behind a TLS-re-signing proxy passes its CA bundle as a build secret (never a layer of the image):
#   buildah bud --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt -t wishstar .
ARG PYTHON_IMAGE=docker.io/library/python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml setup.py requirements.lock README.md ./
COPY cli/ cli/
COPY engine/ engine/
COPY pipelines/ pipelines/
COPY tasks/ tasks/
COPY steps/ steps/
COPY webhook/ webhook/
RUN --mount=type=secret,id=ca \
    set -eu; \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    python3 -m venv /opt/wishstar; \
    /opt/wishstar/bin/pip install --no-cache-dir --disable-pip-version-check --no-compile \
        -c requirements.lock .; \
    /opt/wishstar/bin/wishstar --help >/dev/null

FROM ${PYTHON_IMAGE}
# git: the server clones the repositories it builds.
RUN set -eu; \
    apt-get update; \
    apt-get install -y --no-install-recommends git ca-certificates; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb; \
    groupadd --system --gid 10001 wishstar; \
    useradd --system --uid 10001 --gid wishstar --home-dir /var/lib/wishstar --shell /usr/sbin/nologin wishstar; \
    install -d -o 10001 -g 10001 -m 0750 /var/lib/wishstar
COPY --from=build /opt/wishstar /opt/wishstar
ENV PATH=/opt/wishstar/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    WISHSTAR_STATE_DIR=/var/lib/wishstar \
    HOME=/var/lib/wishstar
WORKDIR /var/lib/wishstar
USER 10001:10001
EXPOSE 8080
LABEL org.opencontainers.image.title="wishstar" \
      org.opencontainers.image.description="Wishstar CI/CD server (wishstar serve)" \
      org.opencontainers.image.licenses="Apache-2.0"
ENTRYPOINT ["wishstar"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
