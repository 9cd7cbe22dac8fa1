"""Helpers shared by the test modules (fixtures live in conftest.py files; test modules import
only from here, never from each other)."""
