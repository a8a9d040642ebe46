"""Places & Spaces: geospatial intelligence for contextual safeguarding.

``create_app`` builds the Flask service; the analysis core (``geoservice.ingest``, ``geoservice.store`` and the
packages that follow) never imports Flask, so notebooks call it directly.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["create_app", "__version__"]


def create_app(test_config: dict | None = None):
    """The Flask app: defaults, then ``GEOSERVICE_*`` environment variables, then ``test_config``.

    ``test_config`` may carry a ready ``GEOSERVICE_SETTINGS`` (a ``Settings``) to point the app at a store.
    """
    from flask import Flask

    from .attribution import attributions_for
    from .config import Settings
    from .pseudonyms import instance_secret
    from .web import access, api, audit_view, auth, errors, home, maps, tasking, upload, workbench
    from .web.store import init_app

    app = Flask(__name__, instance_relative_config=False)
    app.config.from_mapping(JSON_SORT_KEYS=False)
    if test_config:
        app.config.update(test_config)
    if "GEOSERVICE_SETTINGS" not in app.config:
        app.config["GEOSERVICE_SETTINGS"] = Settings.from_env()
    settings = app.config["GEOSERVICE_SETTINGS"]
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = settings.secret_key or instance_secret(settings, "secret.key").decode()
    if app.config.get("MAX_CONTENT_LENGTH") is None:  # Flask's default is no limit
        app.config["MAX_CONTENT_LENGTH"] = int(settings.upload_max_mb * 1_000_000)
    if settings.proxy_hops:  # behind trusted proxies: their forwarded client address and scheme are believed
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops)
    init_app(app)
    errors.init_app(app)
    access.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(home.bp)
    app.register_blueprint(maps.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(audit_view.bp)
    app.register_blueprint(upload.bp)
    app.register_blueprint(workbench.bp)
    app.register_blueprint(tasking.bp)
    app.context_processor(lambda: {"attributions": attributions_for(app.extensions["geoservice_store"])})
    return app
