"""The campaign report: a store (docs/store.md) read into pandas tables, the
numbers behind every figure, the figures, and one HTML page (docs/report.md)."""
