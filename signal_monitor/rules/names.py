"""How series, symbols and baskets read in an alert: the ``names:`` section of a rule file, metric units, placeholders.

The rule file's model (:mod:`signal_monitor.rules.model`) validates against these, and the texts
(:mod:`signal_monitor.rules.text`) print with them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from signal_monitor.format import Unit

METRIC_UNITS: dict[str, Unit] = {
    "long_buy": "money",
    "long_sell": "money",
    "short_sale": "money",
    "short_cover": "money",
    "net_buying": "money",
    "long_mv": "money",
    "short_mv": "money",
    "nav": "money",
    "gross_leverage": "leverage",
    "net_leverage": "leverage",
    "ls_flow_ratio": "to_one",
    "ls_ratio": "ratio",
    "return": "fraction",
    "close": "price",
    "trades": "count",
    "obs": "number",
}

#: Readable names of enumerated scope values; other values (sectors, symbols, series) print as they are.
VALUE_LABELS: dict[str, str] = {
    "hedge_fund": "hedge funds",
    "long_only": "long-only funds",
    "single_stock": "single stocks",
    "etf": "ETFs",
    "index": "index products",
    "fundamental_long_short": "fundamental long/short funds",
}


#: The units an observation event may give (its ``unit`` field, case-insensitive) and how they print.
OBSERVATION_UNITS: dict[str, Unit] = {
    "usd": "money",
    "$": "money",
    "fraction": "fraction",
    "ratio": "ratio",
    "index": "price",
    "price": "price",
    "level": "price",
    "count": "count",
    "contracts": "count",
    "": "number",
    "number": "number",
}


class SeriesName(BaseModel):
    """The display name of an observation series and the unit its observations carry."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    unit: str = ""

    @field_validator("unit")
    @classmethod
    def _known_unit(cls, unit: str) -> str:
        if unit.lower() not in OBSERVATION_UNITS:
            known = ", ".join(u for u in OBSERVATION_UNITS if u)
            raise ValueError(f"unknown unit {unit!r} (known: {known})")
        return unit.lower()


class DisplayNames(BaseModel):
    """The ``names:`` section of a rule file: how series, symbols and baskets read in an alert's text.

    ``series`` maps an observation series id to its name (and unit); ``symbols`` and
    ``baskets`` map a symbol (a basket is a symbol of the quote stream) to its name,
    written as it reads mid-sentence ("the Nasdaq 100"). A value with no name prints as it is.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    series: dict[str, SeriesName] = Field(default_factory=dict)
    symbols: dict[str, str] = Field(default_factory=dict)
    baskets: dict[str, str] = Field(default_factory=dict)
    #: series name -> the unit its observation events give (from the store, see :meth:`with_observed_units`)
    _observed: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("series", mode="before")
    @classmethod
    def _short_series(cls, value: Any) -> Any:
        """Allow ``id: Name`` for a series without a unit."""
        if isinstance(value, dict):
            return {k: {"name": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    def of(self, dimension: str, value: str) -> str:
        """Return how a scope value reads: its name, a readable label of an enumerated value, else itself."""
        if dimension == "series" and value in self.series:
            return self.series[value].name
        if dimension == "symbol":
            named = self.baskets.get(value) or self.symbols.get(value)
            if named:
                return named
        return VALUE_LABELS.get(value, value)

    def with_observed_units(self, units: Mapping[str, str]) -> DisplayNames:
        """Return these names knowing the units the observation events of some series gave (series -> unit).

        A unit the names declare for a series wins over the observed one.
        """
        names = self.model_copy()
        names._observed = {**self._observed, **units}
        return names

    def unit(self, metric: str, scope: Mapping[str, Any]) -> Unit:
        """Return the unit of ``metric`` over ``scope``.

        An observation's is its series' unit declared under ``names:``, else the unit its events gave
        (:meth:`with_observed_units`; one not in ``OBSERVATION_UNITS`` reads as a plain number), else a number.
        """
        if metric == "obs":
            series = scope.get("series")
            if not isinstance(series, str):
                return "number"
            named = self.series.get(series)
            unit = named.unit if named and named.unit else self._observed.get(series, "")
            return OBSERVATION_UNITS.get(unit.lower(), "number")
        return METRIC_UNITS.get(metric, "number")


NO_NAMES = DisplayNames()


#: Placeholders every message template may use, besides the scope's dimensions and the kinds' context keys.
BASE_FIELDS: frozenset[str] = frozenset(
    {"rule", "description", "severity", "period", "period_start", "period_end", "scope"}
    | {"value", "threshold", "text", "held"}
)
