"""Give each app one ``Store``; views reach it through ``get_store()`` (as Flask's tutorial does ``get_db()``)."""

from __future__ import annotations

from flask import Flask, current_app

from ..store.db import Store


def init_app(app: Flask) -> None:
    store = Store.from_settings(app.config["GEOSERVICE_SETTINGS"])
    if not app.config.get("GEOSERVICE_STORE_READY"):  # the server makes it ready once, before its workers start
        store.init()
    app.extensions["geoservice_store"] = store


def get_store() -> Store:
    return current_app.extensions["geoservice_store"]
