# syntax=docker/dockerfile:1
# The reference licence server: a Node 24 program bundled into one file, on an empty base
# (no shell, no package manager), run as the non-root user 65532. Read-only root filesystem friendly.
#
#   docker build -f images/license-server.Dockerfile -t license-pair-operator/license-server:0.1.0 .
#
# `npm run images` builds this file with buildah (no daemon) and imports the result into the local
# node's containerd; see images/README.md.

# The build stage's base. Any Debian bookworm image with Node 24, npm, binutils (strip) and ldd will
# do; the local builder passes a base it assembled itself, since node:24-bookworm cannot be pulled there.
ARG BUILD_BASE=node:24-bookworm

# The dependencies alone, so a builder's cache keeps them while only the sources change.
FROM ${BUILD_BASE} AS deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM deps AS build
COPY tsconfig.json ./
COPY src ./src
# Exactly the esbuild invocation of bundle() in test/cluster/images.ts.
RUN node_modules/.bin/esbuild src/license-server/main.ts --bundle --platform=node --target=node24 --format=esm \
      --outfile=/out/main.mjs \
      "--banner:js=import { createRequire as __lpoCreateRequire } from 'node:module'; const require = __lpoCreateRequire(import.meta.url);" \
      --log-level=warning
COPY images/assemble-rootfs.sh /usr/local/bin/assemble-rootfs.sh
# The pinned Node 24 of the project (the npm package node@24 in node_modules), as the local builder uses.
RUN sh /usr/local/bin/assemble-rootfs.sh node_modules/node/bin/node /out/main.mjs /rootfs

FROM scratch
COPY --from=build /rootfs/ /
ENV PATH=/usr/local/bin NODE_ENV=production
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/usr/local/bin/node", "/app/main.mjs"]
# Labels last, so a new revision reuses the cached layer above.
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE_URL=
LABEL org.opencontainers.image.title="license-pair-operator license-server" \
      org.opencontainers.image.description="The reference licence server of license-pair-operator: floating licences, lease replication to a standby." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="Apache-2.0"
