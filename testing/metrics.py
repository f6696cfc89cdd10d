"""Reading a /metrics answer in tests: samples by name and labels, and the names a dashboard may use."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

SAMPLE_SUFFIXES = {"histogram": ("_bucket", "_count", "_sum"), "counter": ("_total",), "gauge": ("",)}


class Scrape:
    def __init__(self, text: str):
        self.families = list(text_string_to_metric_families(text))
        self.samples = [sample for family in self.families for sample in family.samples]

    def value(self, name: str, **labels: str) -> float | None:
        """The one sample named `name` whose labels include `labels` (None: no such sample)."""
        found = [s.value for s in self.samples if s.name == name and labels.items() <= s.labels.items()]
        assert len(found) <= 1, f"{len(found)} samples of {name} match {labels}"
        return found[0] if found else None

    def total(self, name: str, **labels: str) -> float:
        """The sum of the samples named `name` whose labels include `labels`."""
        return sum(s.value for s in self.samples if s.name == name and labels.items() <= s.labels.items())

    def series_names(self) -> set[str]:
        """Every sample name the families can carry (a histogram with no observation yet included)."""
        return {family.name + suffix for family in self.families for suffix in SAMPLE_SUFFIXES[family.type]}
