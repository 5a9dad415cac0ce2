"""Health checks around open device drivers, the acquirer circuit breaker and the check
schedule.

Everything here runs on the thread of the worker that owns the device: a check does I/O
on a driver that is already open and never opens or closes a link itself (the worker
decides when to reconnect; a critical ``link`` check is its cue). A check's failure is a
value, never an exception: each returns :class:`~posdriver.service.snapshot.CheckResult`
values whose status is ok / warning / critical / unknown, and unknown is never ok.

* :mod:`.check`: what a check is (:class:`~.check.HealthCheck`, declared with its device
  kind, the capability it needs, its interval kind and its function) and what a run of
  one finds (:class:`~.check.Reading`).
* :mod:`.registry`: the one table of checks, and :func:`~.registry.checks_for`, which
  the workers and the direct ``posdriver check`` both ask.
* :mod:`.printer`, :mod:`.terminal`: the checks themselves.
* :mod:`.breaker`: the :class:`~.breaker.CircuitBreaker`; :mod:`.schedule`: the
  :class:`~.schedule.CheckSchedule` and :func:`~.schedule.transition`.
"""
