# One image with the four aTES services and ates-nats-config (the broker's
# identities); compose.yaml picks the binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked \
      -p auth-api -p tasks-api -p accounting-api -p analytics-api \
 && cargo build --release --locked -p ates-core --bin ates-nats-config

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 ates
COPY --from=build /src/target/release/auth-api /src/target/release/tasks-api \
     /src/target/release/accounting-api /src/target/release/analytics-api \
     /src/target/release/ates-nats-config /usr/local/bin/
USER ates
ENV RUST_LOG=info LOG_FORMAT=json
CMD ["auth-api"]
