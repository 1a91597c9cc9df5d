"""The commands a user runs (``python -m runners.<name>`` or the ``smc-*`` scripts) and what they
share (``cli``: the one error-to-exit-code wrapper). Nothing here is imported by other layers."""
