"""Executors: the code that carries out an action."""
