# One image with the four aTES services, web-server with the built web app,
# and ates-nats-config (the broker's identities); compose.yaml picks the
# binary.
FROM node:22-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
# The browser tests' Playwright is a dev dependency; the image needs no browser.
ENV PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
RUN npm ci
COPY web/ ./
RUN npm run build

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked \
      -p auth-api -p tasks-api -p accounting-api -p analytics-api -p web-server \
 && cargo build --release --locked -p ates-core --bin ates-nats-config

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 ates
COPY --from=build /src/target/release/auth-api /src/target/release/tasks-api \
     /src/target/release/accounting-api /src/target/release/analytics-api \
     /src/target/release/web-server /src/target/release/ates-nats-config /usr/local/bin/
COPY --from=web /web/dist /srv/web
USER ates
ENV RUST_LOG=info LOG_FORMAT=json
CMD ["auth-api"]
