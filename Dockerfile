# The af environment image (SAT, ABD, DED over the Affinetes function_based protocol) for
# people with a registry. Without one, `af env image build` assembles the same image from the
# local af binary and python3.
#
#   docker build -t affine-env:local .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin af

FROM debian:bookworm-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/af /usr/local/bin/af
ENV AF_NO_DOTENV=1 AF_PYTHON=/usr/bin/python3 AF_HOST=0.0.0.0 AF_PORT=8000
LABEL affinetes.env.type="function_based"
EXPOSE 8000
# No --port here: the port comes from AF_PORT, so `af eval --docker-network host` can give each
# replica its own.
CMD ["af", "env", "serve", "--env", "affine"]
