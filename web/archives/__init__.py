"""The read-only archive viewer and the printable documents of a case (AR-4, DO-4, DO-5)."""
