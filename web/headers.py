"""Security headers on every response (defence in depth for a system holding household financial data).

* ``Content-Security-Policy``: scripts, styles, fonts, images and fetches only from this site; no
  plugins; no framing (clickjacking); forms post only here. Templates carry no inline script (data
  for scripts travels in ``<script type="application/json">`` blocks, which are not executed); inline
  *style attributes* remain (table column widths, and bpmn-js styles the diagram's SVG), hence
  ``'unsafe-inline'`` for styles only.
* ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin`` (URLs name case numbers; they
  never leave the site in a Referer), ``X-Frame-Options: DENY`` for browsers without CSP 2.
* ``Cache-Control: no-store`` on everything but static assets: pages, API answers and downloads show
  personal data, which must not linger in shared or browser caches.
* ``Strict-Transport-Security`` in production (served over HTTPS behind the proxy).
"""

from __future__ import annotations

from flask import Flask
from flask import Response
from flask import request

CSP = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
HSTS = "max-age=31536000; includeSubDomains"


def init_app(app: Flask) -> None:
    production = app.config["ENV"] == "production"

    @app.after_request
    def _secure(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        if not _is_static():
            headers["Cache-Control"] = "no-store"
        if production:
            headers.setdefault("Strict-Transport-Security", HSTS)
        return response


def _is_static() -> bool:
    endpoint = request.endpoint or ""
    return endpoint == "static" or endpoint.endswith(".static")
