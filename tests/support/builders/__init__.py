"""Valid examples of each service's commands and events, one module per service with the
service's name (``builders.referrals``, ``builders.billing``, ...), for tests and benchmarks."""
