"""Typed stack configuration, split by job; import the submodule you need.

  schema   what a stack may say: frozen pydantic sections (each cloud's own section lives in
           `infra/<cloud>/settings.py`, SDK-free) and `StackConfig`
  checks   rules across sections (one small function each, plus the cloud's own `check`)
  resolve  what the program derives before use: `gpu.instanceType: auto` and the cloud's defaults
  loader   the engine's flat config -> parse -> checks -> resolve: the only way in
  errors   `ConfigError` and the one-line `key = value: what is valid` format

Nothing is re-exported here, so a cloud's settings can import `base` without a cycle.
"""
