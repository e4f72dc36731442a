"""graphc benchmark suite: `python -m bench --help`."""
