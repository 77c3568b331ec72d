"""The browser viewer: a static page (three.js, vendored so it works offline) that draws a point-cloud PLY, a
3DGS PLY, a ``.splat`` or a ``.spz`` file.

Stdlib only, so the API process can mount it without importing torch:

* ``viewer_dir()`` - folder of the static assets (``viewer.js``, ``three.module.js``, ``three.core.js``,
  ``OrbitControls.js``); serve it under some URL prefix;
* ``viewer_html(data_url, static_url=...)`` - the page for one file, with the asset prefix and the file's URL
  filled in. The page fetches ``data_url`` itself, so any server (``gld8tr view``, the web service) works.

Splats are drawn by Spark (``@sparkjsdev/spark`` 2.2.0, MIT, https://sparkjs.dev; licence in ``SPARK_LICENSE.md``),
a three.js Gaussian splat renderer: ``spark.module.min.js`` is its npm ``dist/spark.module.min.js``, unmodified.
three.js r187 (MIT, https://threejs.org; licence in ``THREE_LICENSE.md``) comes from npm, copied unmodified from
``three/build/three.module.js``, ``three/build/three.core.js``, ``three/examples/jsm/controls/OrbitControls.js``
and ``three/examples/jsm/postprocessing/Pass.js`` (which Spark imports).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

THREE_VERSION = "0.187.0"
SPARK_VERSION = "2.2.0"
STATIC_FILES = ("viewer.js", "three.module.js", "three.core.js", "OrbitControls.js", "Pass.js", "spark.module.min.js")


def viewer_dir() -> Path:
    """Folder holding ``index.html`` and the static assets."""
    return Path(__file__).resolve().parent


def viewer_html(
    data_url: str,
    *,
    static_url: str = "./",
    title: str = "Gld8tr-3dcn viewer",
    file_format: str = "auto",
    axes: str = "opencv",
    fov_deg: float | None = None,
) -> str:
    """The viewer page for the file at ``data_url``.

    ``static_url``: URL prefix (ending in ``/``) under which ``viewer_dir()`` is served. ``file_format``:
    ``auto`` (sniff: PLY header, gzip = ``.spz``, else ``.splat``), ``ply``, ``splat`` or ``spz``. ``axes``: the
    frame of headerless ``.splat`` files (PLY files written here say their frame in a comment; ``.spz`` defines
    its own). ``fov_deg``: horizontal field of view of the start camera (the project default when None).
    """
    if any(c in static_url for c in "\"'<>\\ "):
        raise ValueError(f"static_url must be a plain URL path, got {static_url!r}")
    if not static_url.endswith("/"):
        static_url += "/"
    config = {"dataUrl": data_url, "format": file_format, "axes": axes, "title": title}
    if fov_deg is not None:
        config["fovDeg"] = float(fov_deg)
    # "</" must not appear inside the inline JSON script element.
    config_json = json.dumps(config).replace("</", "<\\/")
    page = (viewer_dir() / "index.html").read_text(encoding="utf-8")
    return (
        page.replace("{{TITLE}}", html.escape(title))
        .replace("{{STATIC}}", static_url)
        .replace("{{CONFIG}}", config_json)
    )


__all__ = ["SPARK_VERSION", "STATIC_FILES", "THREE_VERSION", "viewer_dir", "viewer_html"]
