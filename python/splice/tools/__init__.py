"""Tools that prove splice on an interpreter, outside the runtime package:
``python -m splice doctor`` (:mod:`splice.tools.doctor`) and ``python -m
splice torture`` (:mod:`splice.tools.torture`). They use the native
module's testing-only surface, :mod:`splice._native.testing`."""
