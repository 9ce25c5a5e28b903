"""Routing rules, escalation policies and on-call schedules as pure functions.

Shared by the services that apply them (router, escalator) and by the query API that explains and
simulates them, so that "which rule takes this alert" has one answer. No I/O, no clock: callers pass
`now`/`at` in.
"""
