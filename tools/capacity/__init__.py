"""The capacity planner: an LA's academic year simulated with the services' own domain code
(``python -m tools.capacity``, ``make simulate``)."""
