# railyard: build in the Rust image, run in a slim Debian image.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY benches benches
RUN cargo build --release --locked --bin railyard

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 railyard
WORKDIR /app
COPY --from=build /src/target/release/railyard /usr/local/bin/railyard
COPY topologies topologies
COPY examples examples
COPY schemas schemas
RUN mkdir -p /app/out && chown railyard /app/out
USER railyard
ENTRYPOINT ["railyard"]
CMD ["run", "topologies/quickstart.toml"]
