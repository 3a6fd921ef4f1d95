"""Data exchange with information-sharing units (DX-1..DX-8).

Database-free building blocks:

- ``signing``: system-mode request signatures (HMAC-SHA256 / HMAC-SM3, nonce, timestamp).
- ``media``: media-mode encrypted package files (SM4-GCM or AES-256-GCM, streamed chunks).
- ``sender``: delivering a signed JSON batch over HTTP(S) with retries and back-off.
- ``registry``: the deterministic synthetic registry behind the simulated sharing units.

The services that wire them to the models (``engine/models/exchange.py``): ``catalogue`` (units'
modes, keys, agreements), ``requests`` (outbox → requests), ``batches`` and ``control`` (dual
control, SD-2/SD-3), ``system_mode``, ``media_mode``, ``results`` (staging, applying, overdue),
``delays``, ``simulate`` (simulated units), ``queries``, ``jobs``.
"""
