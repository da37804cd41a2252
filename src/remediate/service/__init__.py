"""Use cases over the core and the adapters; no click, no sys.exit."""
