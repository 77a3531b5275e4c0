# syntax=docker/dockerfile:1.7
# The Passage super-node: bootstrap service + always-on DHT node + metrics.
#   docker build -t passage-server .
#   docker run -p 8080:8080 -p 7401:7401/udp -p 7402:7402 -v passage-data:/data passage-server
#   (7402/tcp: the relay, served only with PASSAGE_RELAY=true)
# The Node major here (22, LTS) is also exercised by CI (.ci/run runs the server tests on it).

# 1. Build: compile the SDK and the server (TypeScript -> dist).
FROM node:22-bookworm-slim AS build
WORKDIR /app
# No compiler: the native addons (better-sqlite3 13, libsignal) ship prebuilt binaries.
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY sdk/package.json sdk/
COPY server/package.json server/
COPY cli/package.json cli/
RUN npm ci --no-audit --no-fund
COPY sdk sdk
COPY server server
RUN npx tsc -b sdk server
# Then keep production dependencies only, for the server and the SDK it uses.
# npm nests a dependency under a workspace when its version differs from the hoisted one
# (server/node_modules/ajv 8 today): keep those folders too, created empty when there are none.
RUN rm -rf node_modules sdk/node_modules server/node_modules \
 && npm ci --omit=dev --no-audit --no-fund --workspace @passage/server --workspace @passage/sdk \
 && rm -f node_modules/@passage/cli \
 && mkdir -p sdk/node_modules server/node_modules

# 2. Runtime: small, non-root, data in a volume.
FROM node:22-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PASSAGE_HTTP_HOST=0.0.0.0 \
    PASSAGE_HTTP_PORT=8080 \
    PASSAGE_DHT_PORT=7401 \
    PASSAGE_RELAY_PORT=7402 \
    PASSAGE_DATA_DIR=/data
WORKDIR /app
COPY --from=build --chown=root:root /app/node_modules node_modules
COPY --from=build /app/package.json ./
COPY --from=build /app/sdk/package.json sdk/
COPY --from=build /app/sdk/dist sdk/dist
COPY --from=build /app/sdk/node_modules sdk/node_modules
COPY --from=build /app/server/package.json server/
COPY --from=build /app/server/dist server/dist
COPY --from=build /app/server/node_modules server/node_modules
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080/tcp 7401/udp 7402/tcp
HEALTHCHECK --interval=15s --timeout=3s --retries=5 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PASSAGE_HTTP_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
CMD ["node", "server/dist/main.js"]
