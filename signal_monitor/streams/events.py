"""The event contract: pydantic models of the four input topics and the dead-letter record.

Unknown extra fields are ignored; timestamps must carry an offset; numbers must
be finite.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Annotated, Literal, Union, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

BROAD = "broad"

FundType = Literal["hedge_fund", "long_only"]
InstrumentType = Literal["single_stock", "etf", "index"]
Action = Literal["buy_long", "sell_long", "sell_short", "buy_to_cover"]
Sector = Literal[
    "Communication Services",
    "Consumer Discretionary",
    "Consumer Staples",
    "Energy",
    "Financials",
    "Health Care",
    "Industrials",
    "Information Technology",
    "Materials",
    "Real Estate",
    "Utilities",
    "broad",
]
ACTIONS: tuple[str, ...] = get_args(Action)
#: The 11 GICS sectors (``broad`` is for macro products).
GICS_SECTORS: tuple[str, ...] = tuple(s for s in get_args(Sector) if s != BROAD)
NOTIONAL_TOLERANCE = 0.005
#: Event times outside this range are bad input (the calendar arithmetic of periods needs room on both sides).
EARLIEST_EVENT = datetime(1900, 1, 1, tzinfo=timezone.utc)
LATEST_EVENT = datetime(2200, 1, 1, tzinfo=timezone.utc)

#: Amounts are below a quadrillion, so a week's sums stay finite (Redis HINCRBYFLOAT refuses infinity).
MAX_AMOUNT = 1e15
Name = Annotated[str, Field(min_length=1, max_length=200)]
#: Text that becomes part of a scope key or a series id (``k=v|k=v``): no ``|``, no control character.
ScopeName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^|\x00-\x1f\x7f]+$")]
# strict: a JSON number only (an integer is fine), never "10" or true
Positive = Annotated[float, Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False, strict=True)]
NonNegative = Annotated[float, Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False, strict=True)]


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    ts: AwareDatetime

    @field_validator("ts", mode="before")
    @classmethod
    def _iso_text(cls, ts: object) -> object:
        if not isinstance(ts, (str, datetime)):
            raise ValueError("ts must be an ISO-8601 string with a UTC offset")
        return ts

    @field_validator("ts")
    @classmethod
    def _in_calendar(cls, ts: datetime) -> datetime:
        if not EARLIEST_EVENT <= ts < LATEST_EVENT:
            raise ValueError(f"event time must be between {EARLIEST_EVENT.year} and {LATEST_EVENT.year}")
        return ts


class Trade(_Event):
    """One fill of a fund, from ``signals.trades`` (key: fund_id)."""

    trade_id: Name
    fund_id: Name
    fund_type: FundType
    strategy: ScopeName
    symbol: ScopeName
    instrument_type: InstrumentType
    sector: Sector
    sub_industry: ScopeName | None = None
    action: Action
    quantity: Positive
    price: Positive
    notional: Positive

    @model_validator(mode="after")
    def _notional_matches(self) -> "Trade":
        expected = self.quantity * self.price
        if not math.isfinite(expected) or abs(self.notional - expected) > NOTIONAL_TOLERANCE * expected:
            raise ValueError(
                f"notional_mismatch: notional {self.notional:.2f} differs from "
                f"quantity x price {expected:.2f} by more than 0.5%"
            )
        return self


class Quote(_Event):
    """A price of a symbol, from ``signals.quotes`` (key: symbol); ``close`` is the official daily close."""

    symbol: ScopeName
    price: Positive
    kind: Literal["trade", "close"] = "trade"


class LongShort(BaseModel):
    """Long and short market value of one slice of a fund's book."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    long_mv: NonNegative = 0.0
    short_mv: NonNegative = 0.0


class Exposure(_Event):
    """A daily per-fund exposure snapshot, from ``signals.exposures`` (key: fund_id)."""

    fund_id: Name
    fund_type: FundType
    strategy: ScopeName
    nav: Positive
    long_mv: NonNegative
    short_mv: NonNegative
    sectors: dict[ScopeName, LongShort] = Field(default_factory=dict)
    sub_industries: dict[ScopeName, LongShort] = Field(default_factory=dict)
    instrument_types: dict[ScopeName, LongShort] = Field(default_factory=dict)


class Observation(_Event):
    """A point of a series computed elsewhere (CFTC positioning, basket returns), from ``signals.observations``."""

    series: ScopeName
    value: Annotated[float, Field(allow_inf_nan=False, ge=-MAX_AMOUNT, le=MAX_AMOUNT, strict=True)]
    unit: str = ""
    tags: dict[str, str] = Field(default_factory=dict)


Event = Union[Trade, Quote, Exposure, Observation]

EVENT_TYPES: dict[str, type[_Event]] = {
    "trades": Trade,
    "quotes": Quote,
    "exposures": Exposure,
    "observations": Observation,
}


class DeadLetter(BaseModel):
    """What ``signals.dlq`` holds for an event that could not be applied."""

    model_config = ConfigDict(frozen=True)

    reason: str
    detail: str
    topic: str
    partition: int
    offset: int
    index: int | None = Field(None, description="Position in a batched envelope, when the message was an array.")
    worker: str = ""
    at: AwareDatetime
    original: str = Field(
        description="The original bytes (UTF-8, or base64 prefixed 'base64:' when not text), cut at 64 KiB."
    )
    original_size: int = Field(0, description="Length of the original bytes.")
    original_sha256: str = Field("", description="SHA-256 of the original bytes, to match the input message.")
