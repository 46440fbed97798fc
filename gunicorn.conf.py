"""gunicorn settings for the web process (Procfile ``web``).

gunicorn's own knobs come from the environment here; the app's settings it needs (log format and
level, metrics, the in-process worker) come from the app's settings object, ``server.config.Settings``.
"""

import os

from server.config import Settings

_settings = Settings.from_env()

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
# Webhook handlers only verify and store, so anything slower than this is a fault.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
preload_app = True  # a configuration error stops the master with its one-line message
accesslog = "-" if os.environ.get("GUNICORN_ACCESS_LOG", "0") == "1" else None
errorlog = "-"
loglevel = _settings.log_level.lower()
# gunicorn's own lines in the app's format: one JSON line per event in production.
_log_format = _settings.log_format
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"structured": {"()": "server.logs.stdlib_formatter", "fmt": _log_format}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "structured", "stream": "ext://sys.stdout"}},
    "root": {"level": loglevel.upper(), "handlers": ["stdout"]},
    "loggers": {
        "gunicorn.error": {"handlers": ["stdout"], "level": loglevel.upper(), "propagate": False},
        "gunicorn.access": {"handlers": ["stdout"], "propagate": False,
                            "level": "INFO" if accesslog else "WARNING"},
    },
}
# Who may tell us about the original request: gunicorn believes X-Forwarded-Proto (and the other
# secure_scheme_headers) and the SCRIPT_NAME / PATH_INFO headers only from these addresses, comma-
# separated, CIDR allowed. Loopback by default (a proxy on the same host); see docs/DEPLOY.md.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS") or "127.0.0.1,::1"
# "*" trusts every peer: right only where the platform's router is the sole way in and sets the
# scheme headers itself (Heroku). Such a router may still pass a client's own SCRIPT_NAME header
# through, so with "*" no path prefix is taken from headers (gunicorn then drops them); a prefix can
# still come from the SCRIPT_NAME environment variable.
_trust_everyone = "*" in [address.strip() for address in forwarded_allow_ips.split(",")]
forwarder_headers = "" if _trust_everyone else "SCRIPT_NAME,PATH_INFO"


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    """RUN_WORKER_IN_PROCESS=1: each web process also runs a sync worker thread (small installs).

    Claims are atomic on SQLite and PostgreSQL alike, so several of them can share the inbox.
    """
    from server.config import settings_of

    if settings_of(worker.wsgi).run_worker_in_process:
        from server.engine import start_in_process_worker

        start_in_process_worker(worker.wsgi)


# Metrics (server/metrics/multiproc.py, docs/METRICS.md): with PROMETHEUS_MULTIPROC_DIR every
# process writes its samples there and /metrics sums them; these hooks keep the directory tidy.
# Without one, each process would answer /metrics with its own counts only: give it a private one.
if _settings.metrics_enabled and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    import tempfile

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="leads-metrics-")


def on_starting(server):  # type: ignore[no-untyped-def]
    """Forget the samples this host's dead processes left (an earlier run's)."""
    from server.metrics.multiproc import prune_dead

    prune_dead()


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    """A web process exited: its live gauges no longer count."""
    from server.metrics.multiproc import mark_dead

    mark_dead(worker.pid)
