"""Sealed case archives (AR-1…AR-4): sealing, verification, signed backup bundles.

``kinds`` says what goes into an archive (collectors register per item kind, so the exchange
and report branches plug in their own), ``seal`` writes it once, ``verify`` re-checks every
digest, ``backup`` exports and imports signed bundles between Hedui instances.
"""
