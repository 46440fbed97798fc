#!/bin/sh
# The image's one entry point; the first argument says which process to be:
#   web      gunicorn (gunicorn.conf.py): dashboard, OAuth, Power-Up and add-on APIs, webhooks, /metrics
#   worker   the sync worker (flask --app server worker); stops cleanly on SIGTERM
#   release  migrate the database to the current schema (flask --app server db upgrade), then exit
#   demo     the local demo: service, worker and both emulators on loopback, SQLite, no credentials
# Anything else is run as a command (e.g. `flask --app server sync <workspace id>`).
set -eu
cd "$(dirname "$0")/.."

# prometheus-client's multi-process mode needs its directory to exist before the first metric.
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
fi

command="${1:-web}"
[ "$#" -gt 0 ] && shift

case "$command" in
    web)     exec gunicorn --config gunicorn.conf.py "$@" "server:create_app()" ;;
    worker)  exec flask --app server worker "$@" ;;
    release) exec flask --app server db upgrade "$@" ;;
    demo)    exec python -m demo "$@" ;;
    *)       exec "$command" "$@" ;;
esac
