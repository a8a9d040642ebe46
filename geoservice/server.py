"""Serve the web app with a production WSGI server: gunicorn (pre-forked worker processes, each with threads), or
waitress (threads in one process) where gunicorn does not run (Windows). Both are pure Python from the package
registry and work offline.

Nothing a request depends on is kept per process only: sessions, sign-in limits and published numbers live in the
store, and each worker's product cache is keyed by the store's data versions, so any worker answers the same.
"""

from __future__ import annotations

import os

from .config import Settings


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 5000, workers: int = 2, threads: int = 8,
          echo=print) -> None:
    """Serve until interrupted. The store is made ready once here, before any worker starts."""
    from .store.db import Store

    from .pseudonyms import instance_secret

    store = Store.from_settings(settings)
    store.init()
    store.engine.dispose()
    for name, given in (("secret.key", settings.secret_key), ("pseudonym.key", settings.pseudonym_key)):
        if not given:  # made once here, before the workers start and read them
            instance_secret(settings, name)
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError:  # Windows: no fork
        _serve_waitress(settings, host, port, threads, echo)
        return

    class _Gunicorn(BaseApplication):
        def load_config(self):
            for key, value in {"bind": f"{host}:{port}", "workers": workers, "threads": threads,
                               "worker_class": "gthread", "timeout": 300, "graceful_timeout": 10,
                               "keepalive": 75,  # as a browser or proxy expects; gunicorn's 2 s drops idle pages
                               "accesslog": None, "errorlog": "-", "loglevel": "warning",
                               "proc_name": "geoservice"}.items():
                self.cfg.set(key, value)

        def load(self):
            from . import create_app

            return create_app({"GEOSERVICE_SETTINGS": settings, "GEOSERVICE_STORE_READY": True})

    echo(f"serving on http://{host}:{port} with gunicorn: {workers} worker processes x {threads} threads "
         "(Ctrl-C to stop)")
    _Gunicorn().run()


def _serve_waitress(settings: Settings, host: str, port: int, threads: int, echo) -> None:
    from waitress import serve as waitress_serve

    from . import create_app

    app = create_app({"GEOSERVICE_SETTINGS": settings, "GEOSERVICE_STORE_READY": True})
    echo(f"serving on http://{host}:{port} with waitress: {threads} threads (Ctrl-C to stop)")
    waitress_serve(app, host=host, port=port, threads=threads, ident="geoservice")


def default_workers() -> int:
    """Two worker processes, or one per core up to four."""
    return max(2, min(4, os.cpu_count() or 2))
