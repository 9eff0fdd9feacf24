# syntax=docker/dockerfile:1
# ZServe's image: `zserve` and `zserve-trainer` built by Swift 6 on Debian bookworm, run on bookworm-slim as a
# non-root user. Build from the repository root:
#   docker build -t REGISTRY/zserve:TAG .
#   docker build --build-arg ZSERVE_TARGET_CPU=x86-64 -t REGISTRY/zserve:TAG-generic .   # any x86-64 node
# The inference kernels are compiled for ZSERVE_TARGET_CPU (Package.swift): the default, haswell, needs AVX2 and FMA
# on every node that runs the image. Walk-through: docs/deploying.md.

ARG SWIFT_VERSION=6.3
ARG DEBIAN_RELEASE=bookworm

FROM swift:${SWIFT_VERSION}-${DEBIAN_RELEASE} AS build
ARG ZSERVE_TARGET_CPU=haswell
# Package.swift reads it when the manifest is evaluated (resolve and build alike).
ENV ZSERVE_TARGET_CPU=${ZSERVE_TARGET_CPU}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libzmq3-dev libopenblas-dev liblzma-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so a source change does not fetch them again.
COPY Package.swift ./
RUN swift package resolve
# Package.swift declares the test and benchmark targets too, and SwiftPM wants their folders present.
COPY Sources ./Sources
COPY Tests ./Tests
COPY Benchmarks ./Benchmarks
# The Swift runtime and Foundation are linked in statically, so the runtime image needs no Swift toolchain.
RUN swift build -c release --static-swift-stdlib \
      --product zserve \
 && swift build -c release --static-swift-stdlib \
      --product zserve-trainer \
 && install -D -m 0755 "$(swift build -c release --show-bin-path)/zserve" /out/zserve \
 && install -D -m 0755 "$(swift build -c release --show-bin-path)/zserve-trainer" /out/zserve-trainer

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# libzmq5 (sockets, CURVE through libsodium), libopenblas0 (kernels), liblzma5 (the trainer's log), libcurl4
# (Foundation's networking part, linked in statically, loads it).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libzmq5 libopenblas0 liblzma5 libcurl4 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 zserve \
 && useradd --system --uid 10001 --gid zserve --home-dir /nonexistent --shell /usr/sbin/nologin zserve \
 && install -d -o zserve -g zserve /models
COPY --from=build /out/zserve /out/zserve-trainer /usr/local/bin/
# OpenBLAS threads are set by zserve (--blas-threads); this keeps the library from starting its own pool first.
ENV OPENBLAS_NUM_THREADS=1
USER 10001:10001
# Frontend, admin, worker endpoint, metrics (/metrics, /healthz, /readyz): the ports deploy/kubernetes uses.
EXPOSE 7070 7071 7072 9464
ENTRYPOINT ["zserve"]
CMD ["serve", "--model-repository", "/models", "--listen", "tcp://0.0.0.0:7070", "--metrics-listen", "0.0.0.0:9464"]
