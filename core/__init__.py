"""Cross-cutting pieces every layer uses: errors, timeframes and the configuration loader."""
