"""The ground floor every layer stands on: the error hierarchy (``errors``), the record
vocabulary (``records``), bars (``bars``), times and timeframes (``times``, ``timeframes``), the
back-off helper (``retry``) and the configuration loader (``config``)."""
