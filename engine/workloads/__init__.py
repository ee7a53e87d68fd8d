"""Running workloads: what each provider node must run (desired state + cursor), what its agent reports
(heartbeats: liveness, per-workload state, usage series with bounded retention), and the wake-ups that
answer long-polls and SSE streams after a commit.

Modules: :mod:`~engine.workloads.commands` (what the node-agent routes call), :mod:`~engine.workloads.models`
(tables), :mod:`~engine.workloads.desired` (desired state and
its cursor), :mod:`~engine.workloads.longpoll` (one held poll per node), :mod:`~engine.workloads.heartbeats`
(recording heartbeats, liveness, uptime, pruning), :mod:`~engine.workloads.health` (running / degraded
from heartbeats), :mod:`~engine.workloads.wakeups` (publish after commit), :mod:`~engine.workloads.metrics`
(usage series per replica).

Exceptions::

    WorkloadError
    └── BadHeartbeat
"""
