"""Operator tooling: the `auxpol` command, the local stack runner and the demo dataset."""
