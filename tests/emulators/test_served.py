"""The loopback server the emulators and the test harness share."""

from __future__ import annotations

import pytest
import requests

from emulators.common import serve_in_thread


def _hello(environ, start_response):  # type: ignore[no-untyped-def]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def test_stop_ends_the_server_thread_and_frees_the_port():
    running = serve_in_thread(_hello)
    assert requests.get(running.base_url, timeout=5).text == "hello"
    running.stop()
    assert not running.thread.is_alive()
    with pytest.raises(requests.ConnectionError):
        requests.get(running.base_url, timeout=1)  # nothing answers after stop()


def test_stop_works_when_waitress_already_closed_its_trigger():
    """waitress closes its wake-up pipe when its loop meets an unexpected error; stop() must still
    close the sockets and end the thread instead of failing on the closed pipe."""
    running = serve_in_thread(_hello)
    running.server.trigger.close()
    running.stop()
    running.thread.join(timeout=5)
    assert not running.thread.is_alive()
