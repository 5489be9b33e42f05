# zip-oss as an Aliyun Function Compute custom container (or any container platform).
#
#   docker build -t zip-oss .
#
# The builder compiles the wasm component and the wasmtime host; the host embeds the
# component, so the runtime image holds one binary (the .wasm is shipped beside it too,
# for inspection and for other hosts such as `spin up` or `wasmtime serve`).

FROM rust:1.95-bookworm AS build
RUN rustup target add wasm32-wasip2
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p zip-oss \
 && cp "$(find target -path '*wasm32-wasip2/release/zip_oss_component.wasm' | head -n 1)" /zip_oss_component.wasm

FROM debian:bookworm-slim
# CA certificates for https endpoints (OSS, S3).
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin ziposs
COPY --from=build /src/target/release/zip-oss /usr/local/bin/zip-oss
COPY --from=build /zip_oss_component.wasm /usr/local/share/zip-oss/zip_oss_component.wasm
USER 10001
# Function Compute's custom-container port; `zip-oss serve` listens on
# 0.0.0.0:$FC_CUSTOM_LISTEN_PORT (else $FC_SERVER_PORT, else 9000) inside Function Compute.
EXPOSE 9000
ENV FC_SERVER_PORT=9000
ENTRYPOINT ["/usr/local/bin/zip-oss", "serve"]
