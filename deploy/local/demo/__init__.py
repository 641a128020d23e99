"""The demo local authority `make run` loads: its data (``la``), the loader (``loader``), the
living mode (``living``) and the command that runs them (``python -m demo``)."""
