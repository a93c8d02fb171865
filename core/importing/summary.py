"""What an import did (or, with a dry run, would do), for the terminal, the Data screen and the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core import formatting as fmt


@dataclass
class ImportSummary:
    """What an import did (or, with dry_run, would do)."""

    kind: str
    filename: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    customers_created: int = 0
    lines: int = 0
    refunds_inserted: int = 0
    refunds_updated: int = 0
    refunds_unchanged: int = 0
    refunds_removed: int = 0
    cancellations: int = 0
    refunded_cents: int = 0  # whole cents (core.money)
    extra_columns: list[str] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    consent_conflicts: list[str] = field(default_factory=list)  # kept out by core.consent's rule
    consent_conflict_total: int = 0  # consents (customer and channel) kept out
    consent_conflict_customers: int = 0
    dry_run: bool = False
    seconds: float = 0.0

    @property
    def refunded_money(self) -> float:
        """The money the file's refunds give back, in currency units (exact to the cent)."""
        return self.refunded_cents / 100

    @property
    def records(self) -> int:
        """Records the file holds: inserted + updated + unchanged."""
        return self.inserted + self.updated + self.unchanged

    def counts(self) -> dict[str, Any]:
        """The counts as a plain dict, for the audit log."""
        out: dict[str, Any] = {"rows": self.rows, "inserted": self.inserted, "updated": self.updated,
                               "unchanged": self.unchanged, "skipped": self.skipped}
        if self.skipped_reasons:
            out["skipped_reasons"] = dict(self.skipped_reasons)
        if self.customers_created:
            out["customers_created"] = self.customers_created
        if self.kind == "orders":
            out["lines"] = self.lines
        if self.kind in ("orders", "refunds"):
            out["refunds"] = {"inserted": self.refunds_inserted, "updated": self.refunds_updated,
                              "unchanged": self.refunds_unchanged, "removed": self.refunds_removed,
                              "cancellations": self.cancellations, "refunded": self.refunded_money}
        if self.consent_conflict_total:
            out["consent_kept_out"] = self.consent_conflict_total
        return out

    def lines_of_text(self) -> list[str]:
        """The summary a person reads at the terminal or on the Data screen."""
        verb = "would be" if self.dry_run else "were"
        noun = "orders" if self.kind == "orders" else "records"
        out = [f"{self.filename}: {self.rows:,} rows of {self.kind}" + (" (dry run, nothing written)"
                                                                           if self.dry_run else "")]
        out.append(f"  {self.inserted:,} {noun} {verb} inserted, {self.updated:,} updated, "
                   f"{self.unchanged:,} unchanged, {self.skipped:,} rows skipped")
        for reason, n in self.skipped_reasons.items():
            out.append(f"    skipped {n:,}: {reason}")
        if self.kind == "orders":
            out.append(f"  {self.lines:,} order lines {verb} written")
        if self.kind == "orders" and (self.refunds_inserted or self.refunds_updated or self.refunds_unchanged
                                      or self.refunds_removed or self.cancellations):
            out.append(f"  refunds and cancellations, kept apart from the orders: "
                       f"{fmt.count_of(self.refunds_inserted, 'new refund')} ({self.refunded_money:,.2f} refunded "
                       f"in the file), {fmt.count_of(self.cancellations, 'cancelled order')}, "
                       f"{self.refunds_updated:,} updated, {self.refunds_unchanged:,} unchanged, "
                       f"{self.refunds_removed:,} removed")
        if self.customers_created:
            n = self.customers_created
            made = "would be" if self.dry_run else ("was" if n == 1 else "were")
            out.append(f"  {fmt.count_of(n, 'unknown customer id')} {made} created as "
                       + ("a minimal customer" if n == 1 else "minimal customers"))
        if self.extra_columns:
            out.append(f"  ignored columns: {', '.join(self.extra_columns)}")
        if self.consent_conflict_total:
            n = self.consent_conflict_total
            people = self.consent_conflict_customers or n
            both = f"; {n:,} consents, email and SMS" if n > people else ""
            out.append(f"  consent withdrawn earlier {'would be' if self.dry_run else 'was'} kept for "
                       f"{fmt.count_of(people, 'customer')} (the file says opted in{both}):")
            out += [f"    {c}" for c in self.consent_conflicts]
            if self.consent_conflict_total > len(self.consent_conflicts):
                out.append(f"    … and {self.consent_conflict_total - len(self.consent_conflicts):,} more")
        out += [f"  {n}" for n in self.notes]
        return out
