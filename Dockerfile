# ferry in a container: a static binary on a distroless base, running as a
# non-root user, serving the embedded default config unless given one:
#
#   docker build -t ferry .
#   docker run --rm -p 8080:8080 -v "$PWD/ferry.json:/etc/ferry/ferry.json:ro" \
#       ferry start -c /etc/ferry/ferry.json
#
# The binary is built by `make build`, the same target (and so the same go
# build line) that `make test` runs in CI.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN make build && ./bin/ferry version

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/ferry /usr/local/bin/ferry
USER nonroot:nonroot
# The embedded default listens on 127.0.0.1:8080, which a container's port
# mapping cannot reach: mount a config that listens on 0.0.0.0.
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/ferry"]
CMD ["start"]
