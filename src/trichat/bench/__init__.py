"""`trichat bench`: a load generator for any trichat (see docs/performance.md)."""
