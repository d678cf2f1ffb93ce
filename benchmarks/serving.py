"""The dashboard served in a thread of the benchmark's process as `omnidash serve` serves it: waitress, through
the CLI's own `waitress_server` (werkzeug's development server, which the tests use, took about 100 ms longer
to hand a first visit its scripts)."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Served:
    """`wsgi` on a free port of 127.0.0.1 until `stop()`."""

    def __init__(self, wsgi: Callable) -> None:
        import logging

        from omnidash.cli import waitress_server

        logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "Task queue depth is 2": a busy moment
        self._srv = waitress_server(wsgi, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._srv.effective_port}"
        threading.Thread(target=self._srv.run, daemon=True).start()

    def stop(self) -> None:
        """Stop accepting and stop the worker threads (the serving thread is a daemon)."""
        self._srv.close()
        self._srv.task_dispatcher.shutdown(timeout=5)
