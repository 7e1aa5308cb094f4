"""After each bridge server: did it store what it acknowledged, and did every client get a 2xx?"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from .measure import Subject
from .servers import scrape


@dataclass
class Accounting:
    server: str  # which server of the run: main, big-body, storm, history
    open_incidents: int
    all_incidents: int
    server_alerts: float  # bridge_alerts_received_total
    acked_alerts: int
    non2xx: int
    errors: int
    codes: dict[str, float]  # webhook answers by status code, as the server counted them
    expect_incidents: bool = True

    @property
    def accounted(self) -> bool:
        """Every alert acknowledged with a 2xx was committed (the server may have committed more:
        requests still in flight when a run stopped)."""
        return self.server_alerts >= self.acked_alerts

    @property
    def problems(self) -> list[str]:
        found = []
        if self.expect_incidents and self.all_incidents <= 0:
            found.append("no incidents stored")
        if self.non2xx:
            found.append(f"{self.non2xx} non-2xx answers")
        if self.errors:
            found.append(f"{self.errors} socket errors/timeouts")
        if not self.accounted:
            found.append(
                f"fewer alerts committed ({self.server_alerts:,.0f}) "
                f"than acknowledged ({self.acked_alerts:,})"
            )
        return found

    def line(self) -> str:
        codes = ", ".join(f"{code}: {n:,.0f}" for code, n in sorted(self.codes.items()))
        verdict = "OK" if not self.problems else "FAILED: " + ", ".join(self.problems)
        return (
            f"{self.server}: {self.open_incidents:,} open incidents ({self.all_incidents:,} in all); "
            f"non-2xx {self.non2xx}, socket errors/timeouts {self.errors}; answers by code (server): "
            f"{codes or '-'}; alerts committed {self.server_alerts:,.0f} >= acknowledged "
            f"{self.acked_alerts:,}: {'yes' if self.accounted else 'NO'} -> {verdict}"
        )


def account(server: str, subject: Subject, extra_non2xx: int = 0, extra_errors: int = 0) -> Accounting:
    """Ask the service what it stored; compare with what its clients were told."""
    base = subject.server.base_url
    with httpx.Client(base_url=base, timeout=120) as client:
        opened = client.get("/api/v1/incidents", params={"status": "open", "limit": 1})
        every = client.get("/api/v1/incidents", params={"limit": 1})
        opened.raise_for_status()
        every.raise_for_status()
    metrics = scrape(base)
    return Accounting(
        server=server,
        open_incidents=opened.json()["total"],
        all_incidents=every.json()["total"],
        server_alerts=metrics.get("alerts", 0.0),
        acked_alerts=subject.acked_alerts,
        non2xx=subject.non2xx + extra_non2xx,
        errors=subject.errors + extra_errors,
        codes={k.removeprefix("code_"): v for k, v in metrics.items() if k.startswith("code_")},
    )
