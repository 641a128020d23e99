"""Stand-ins for the far ends paging talks to, at the network boundary: GOV.UK Notify's API
(``notify``) and an SMTP relay (``smtp``, aiosmtpd). The tests start them in-process; `make run`
starts them as a process beside the services (``python -m standins``), and what they received
is at ``GET /sent`` on the Notify stand-in (the console shows it)."""
