"""Adapters: the only code that touches git, GitHub, HTTP, SMTP, subprocesses, env and the clock."""
