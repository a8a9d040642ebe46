"""Leaflet for offline pages, taken from a registry package installed at set-up, never from a CDN.

The PyPI package ``django-js-lib-leaflet`` ships Leaflet 1.9.4's built files. We read them from the installed
package and inline them into each page, with the control images as data URIs, so a map opened from a file or
served by us makes no request to anything else. Nothing of Leaflet is copied into this repository.
"""

from __future__ import annotations

import base64
import functools
import importlib.resources
import re

from ..errors import GeoserviceError

PACKAGE = "js_lib_leaflet"
LEAFLET_VERSION = "1.9.4"

#: URL-like strings inside Leaflet's own code that fetch nothing: the SVG namespace, its licence header and
#: attribution prefix (we turn the prefix off), and bug links in comments. Tests allow exactly these.
INERT_LIBRARY_URLS = ("http://www.w3.org/2000/svg", "https://leafletjs.com",
                      "https://bugs.chromium.org/p/chromium/issues/detail?id=600120",
                      "https://bugzilla.mozilla.org/show_bug.cgi?id=888319")


def _files():
    try:
        return importlib.resources.files(PACKAGE) / "static" / PACKAGE
    except ModuleNotFoundError:
        raise GeoserviceError(f"the Leaflet assets are missing: install the package that ships them "
                              f"(pip install django-js-lib-leaflet=={LEAFLET_VERSION}.*), or re-run scripts/demo"
                              ) from None


@functools.cache
def leaflet_js() -> str:
    """Leaflet's minified JavaScript, as shipped."""
    text = (_files() / "leaflet.js").read_text(encoding="utf-8")
    if f"Leaflet {LEAFLET_VERSION}" not in text[:200]:
        raise GeoserviceError(f"the installed {PACKAGE} is not Leaflet {LEAFLET_VERSION}")
    return text


@functools.cache
def leaflet_css() -> str:
    """Leaflet's CSS with its images inlined as data URIs (so the layer control's icon needs no request)."""
    folder = _files()
    css = (folder / "leaflet.css").read_text(encoding="utf-8")

    def inline(match: re.Match) -> str:
        data = (folder / "images" / match.group(1)).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(data).decode()})"

    return re.sub(r"url\(images/([\w.-]+\.png)\)", inline, css)


@functools.cache
def map_script() -> str:
    """Our own map code (``geoservice/maps/static/hexmap.js``): decodes the hexes and draws the layers."""
    return importlib.resources.files("geoservice.maps").joinpath("static/hexmap.js").read_text(encoding="utf-8")


@functools.cache
def building_script() -> str:
    """The script of the page shown while a map builds (``geoservice/maps/static/building.js``)."""
    return importlib.resources.files("geoservice.maps").joinpath("static/building.js").read_text(encoding="utf-8")
