#!/bin/bash
# Container health check for the chat-node image: GET a path on the node's own port and
# succeed on HTTP 200. Used by the Dockerfile's HEALTHCHECK and by docker-compose.yml.
#
#   chat-healthcheck                # GET /api/health (liveness: the process answers)
#   chat-healthcheck /api/ready     # readiness: store and broker answer, not draining
#
# Why not curl: debian:bookworm-slim has none, and installing it adds libcurl and a dozen
# libraries (TLS, LDAP, SSH, ...) to an image that otherwise needs only glibc. bash is
# already there (Essential: yes), and its /dev/tcp is all a loopback HTTP/1.0 GET needs.
# Docker's --timeout bounds the whole check; `read -t` bounds waiting for the status line.
set -eu
path=${1:-/api/health}
port=${CHAT_BIND:-127.0.0.1:8080}
port=${port##*:}
exec 3<>"/dev/tcp/127.0.0.1/${port}"
printf 'GET %s HTTP/1.0\r\nHost: localhost\r\nUser-Agent: chat-healthcheck\r\n\r\n' "$path" >&3
IFS= read -r -t 5 status <&3 || exit 1
exec 3<&-
case "$status" in
    "HTTP/1."?" 200 "*) exit 0 ;;
    *) echo "unhealthy: ${status%$'\r'}" >&2; exit 1 ;;
esac
