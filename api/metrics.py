"""Request counters rendered as Prometheus text (no client library: a dict of counters is enough).

One :class:`Metrics` per app; the access-log middleware calls :meth:`observe` once per request. Routes
are counted by their template (``/api/x/{id}``), never the concrete path, so the label set stays small.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@dataclass
class Metrics:
    requests: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    duration_ms_sum: defaultdict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))

    def observe(self, method: str, route: str, status: int, duration_ms: float) -> None:
        self.requests[(method, route, status)] += 1
        self.duration_ms_sum[(method, route)] += duration_ms

    def render(self, gauges: dict[str, dict[tuple[tuple[str, str], ...], int]] | None = None) -> str:
        lines = [
            "# HELP cloudmarket_http_requests_total HTTP requests by route and status.",
            "# TYPE cloudmarket_http_requests_total counter",
        ]
        for (method, route, status), n in sorted(self.requests.items()):
            lines.append(
                f'cloudmarket_http_requests_total{{method="{method}",route="{_label(route)}",'
                f'status="{status}"}} {n}'
            )
        lines += [
            "# HELP cloudmarket_http_request_duration_ms_sum Total handling time by route.",
            "# TYPE cloudmarket_http_request_duration_ms_sum counter",
        ]
        for (method, route), total in sorted(self.duration_ms_sum.items()):
            shown = f'method="{method}",route="{_label(route)}"'
            lines.append(f"cloudmarket_http_request_duration_ms_sum{{{shown}}} {total:.3f}")
        for name, series in (gauges or {}).items():
            lines += [f"# TYPE {name} gauge"]
            for labels, value in sorted(series.items()):
                shown = ",".join(f'{k}="{_label(v)}"' for k, v in labels)
                lines.append(f"{name}{{{shown}}} {value}")
        return "\n".join(lines) + "\n"
