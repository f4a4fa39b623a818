"""Backfill: each history format into a State, idempotence, bad rows, and the weekly helpers by hand."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from signal_monitor.offline.backfill import BackfillError, backfill, weekly_last, weekly_returns
from signal_monitor.errors import SignalMonitorError
from signal_monitor.state.memory import MemoryState

D = date.fromisoformat


def write(path: Path, text: str) -> Path:
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


async def points(state: MemoryState, sid: str) -> dict[date, float]:
    return dict(await state.history(sid))


async def everything(state: MemoryState) -> dict[str, list[tuple[date, float]]]:
    return {sid: await state.history(sid) for sid in await state.series_ids("")}


# --- the pure helpers ---------------------------------------------------------------------


def test_weekly_last_takes_the_latest_day_of_each_week_in_any_order() -> None:
    daily = [
        (D("2025-06-04"), 4.0),  # Wednesday: last day present of the week ending 06-06
        (D("2025-05-29"), 1.0),
        (D("2025-06-02"), 3.0),
        (D("2025-05-30"), 2.0),  # Friday
        (D("2025-06-07"), 5.0),  # Saturday belongs to the week ending 06-13
    ]
    assert weekly_last(daily) == [(D("2025-05-30"), 2.0), (D("2025-06-06"), 4.0), (D("2025-06-13"), 5.0)]


def test_weekly_last_of_a_holiday_short_week_is_its_thursday() -> None:
    # 2025-04-18 is Good Friday: the week's last close is Thursday's, the point is named by the Friday
    assert weekly_last([(D("2025-04-16"), 10.0), (D("2025-04-17"), 11.0)]) == [(D("2025-04-18"), 11.0)]
    assert weekly_last([]) == []


def test_weekly_returns_by_hand() -> None:
    closes = [(D("2025-06-13"), 99.0), (D("2025-05-30"), 100.0), (D("2025-06-06"), 110.0)]
    got = weekly_returns(closes)
    assert [p for p, _ in got] == [D("2025-06-06"), D("2025-06-13")]
    assert got[0][1] == pytest.approx(0.10)
    assert got[1][1] == pytest.approx(-0.10)


def test_weekly_returns_uses_the_previous_stored_week_and_skips_a_zero_close() -> None:
    assert weekly_returns([(D("2025-05-16"), 50.0), (D("2025-06-06"), 55.0)]) == [(D("2025-06-06"), pytest.approx(0.1))]
    assert weekly_returns([(D("2025-05-30"), 0.0), (D("2025-06-06"), 5.0)]) == []
    assert weekly_returns([(D("2025-06-06"), 5.0)]) == []


# --- each format --------------------------------------------------------------------------

CLOSES = """
DATE,OPEN,HIGH,LOW,CLOSE
2025-05-29,19.0,21.0,18.5,20.000000
2025-05-30,20.0,22.5,19.5,22.000000
2025-06-02,22.0,22.0,20.0,21.000000
2025-06-04,21.0,25.0,21.0,24.200000
"""


async def test_closes_give_daily_weekly_closes_and_weekly_returns(tmp_path: Path) -> None:
    state = MemoryState()
    summary = await backfill(state, closes=[(write(tmp_path / "vix.csv", CLOSES), "VIX")])
    assert await points(state, "close:day|symbol=VIX") == {
        D("2025-05-29"): 20.0, D("2025-05-30"): 22.0, D("2025-06-02"): 21.0, D("2025-06-04"): 24.2,
    }
    assert await points(state, "close:week|symbol=VIX") == {D("2025-05-30"): 22.0, D("2025-06-06"): 24.2}
    ret = await points(state, "return:week|symbol=VIX")
    assert list(ret) == [D("2025-06-06")]
    assert ret[D("2025-06-06")] == pytest.approx(24.2 / 22.0 - 1)
    assert summary.files == 1 and summary.rows == 4
    assert summary.points == {"close:day": 4, "close:week": 2, "return:week": 1}
    assert summary.series == 3 and summary.total_points == 7 and summary.seconds >= 0
    assert "4 rows" in str(summary)


async def test_closes_accept_cboe_us_dates(tmp_path: Path) -> None:
    state = MemoryState()
    path = write(tmp_path / "old.csv", "DATE,OPEN,HIGH,LOW,CLOSE\n01/02/1990,17.24,17.24,17.24,17.24\n")
    await backfill(state, closes=[(path, "VIX")])
    assert await points(state, "close:day|symbol=VIX") == {D("1990-01-02"): 17.24}


FLOWS = """
week_end,fund_type,instrument_type,sector,sub_industry,strategy,buy_long,sell_long,sell_short,buy_to_cover,n
2025-06-06,hedge_fund,,Industrials,,,3700,550,1000,260,12
2025-06-06,hedge_fund,,Health Care,,,4100,1480,0,0,
2025-06-06,,,,,,10,20,5,1,4
2025-05-30,hedge_fund,single_stock,,,,300,100,100,0,3
"""


async def test_flows_give_every_flow_metric_of_the_scope(tmp_path: Path) -> None:
    state = MemoryState()
    await backfill(state, flows=[write(tmp_path / "flows.csv", FLOWS)])
    ind = "|fund_type=hedge_fund|sector=Industrials"
    week = D("2025-06-06")
    assert (await points(state, "net_buying:week" + ind))[week] == pytest.approx(3700 + 260 - 550 - 1000)
    assert (await points(state, "ls_flow_ratio:week" + ind))[week] == pytest.approx(3.7)
    assert (await points(state, "long_buy:week" + ind))[week] == 3700
    assert (await points(state, "long_sell:week" + ind))[week] == 550
    assert (await points(state, "short_sale:week" + ind))[week] == 1000
    assert (await points(state, "short_cover:week" + ind))[week] == 260
    assert (await points(state, "trades:week" + ind))[week] == 12
    hc = "|fund_type=hedge_fund|sector=Health Care"
    assert (await points(state, "net_buying:week" + hc))[week] == pytest.approx(4100 - 1480)
    assert await points(state, "ls_flow_ratio:week" + hc) == {}  # no short sales: no ratio
    assert (await points(state, "trades:week" + hc))[week] == 0
    assert (await points(state, "net_buying:week"))[week] == pytest.approx(10 + 1 - 20 - 5)
    ss = "|fund_type=hedge_fund|instrument_type=single_stock"
    assert await points(state, "net_buying:week" + ss) == {D("2025-05-30"): pytest.approx(100.0)}


async def test_flows_jsonl_reads_the_same_as_csv(tmp_path: Path) -> None:
    rows = [
        {"week_end": "2025-06-06", "fund_type": "hedge_fund", "sector": "Industrials", "buy_long": 3700,
         "sell_long": 550, "sell_short": 1000, "buy_to_cover": 260, "n": 12, "sub_industry": None},
    ]
    path = tmp_path / "flows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    state = MemoryState()
    await backfill(state, flows=[path])
    csv_state = MemoryState()
    await backfill(csv_state, flows=[write(tmp_path / "one.csv", "\n".join(FLOWS.strip().splitlines()[:2]) + "\n")])
    assert await everything(state) == await everything(csv_state)


EXPOSURES = """
date,fund_type,strategy,sector,sub_industry,instrument_type,long_mv,short_mv,nav
2025-06-05,,fundamental_long_short,,,,130,80,100
2025-06-06,,fundamental_long_short,,,,130.9,79.7,100
2025-06-05,,,,Biotechnology,,300,0,
2025-06-06,,,,Biotechnology,,383,100,
2025-05-29,,,,Biotechnology,,200,100,
2025-05-30,,,,Biotechnology,,200,0,
2025-06-06,hedge_fund,,,,,10,5,4
2025-06-06,,,,,etf,7,3,
"""


async def test_exposures_give_daily_points_and_the_last_day_of_each_week(tmp_path: Path) -> None:
    state = MemoryState()
    await backfill(state, exposures=[write(tmp_path / "exp.csv", EXPOSURES)])
    fls = "|strategy=fundamental_long_short"
    assert await points(state, "gross_leverage:day" + fls) == {D("2025-06-05"): 2.1, D("2025-06-06"): pytest.approx(2.106)}
    assert await points(state, "gross_leverage:week" + fls) == {D("2025-06-06"): pytest.approx(2.106)}
    assert await points(state, "net_leverage:week" + fls) == {D("2025-06-06"): pytest.approx(0.512)}
    assert await points(state, "ls_ratio:week" + fls) == {D("2025-06-06"): pytest.approx(130.9 / 79.7)}
    assert await points(state, "nav:week" + fls) == {D("2025-06-06"): 100}
    bio = "|sub_industry=Biotechnology"
    # a day without shorts has no ratio; the week's point is the metrics of its last day
    assert await points(state, "ls_ratio:day" + bio) == {D("2025-05-29"): 2.0, D("2025-06-06"): 3.83}
    assert await points(state, "ls_ratio:week" + bio) == {D("2025-06-06"): 3.83}
    assert await points(state, "long_mv:week" + bio) == {D("2025-05-30"): 200, D("2025-06-06"): 383}
    assert await points(state, "gross_leverage:week" + bio) == {}  # slices have no leverage
    assert await points(state, "nav:day" + bio) == {}
    assert await points(state, "gross_leverage:week|fund_type=hedge_fund") == {D("2025-06-06"): 3.75}
    assert await points(state, "short_mv:week|instrument_type=etf") == {D("2025-06-06"): 3}


async def test_observations_give_daily_and_weekly_last_points(tmp_path: Path) -> None:
    path = write(tmp_path / "obs.csv", "date,series,value,unit\n2025-05-27,cftc,5,usd\n2025-05-29,cftc,4,usd\n2025-06-02,cftc,-3.5,usd\n")
    state = MemoryState()
    await backfill(state, observations=[path])
    assert await points(state, "obs:day|series=cftc") == {D("2025-05-27"): 5, D("2025-05-29"): 4, D("2025-06-02"): -3.5}
    assert await points(state, "obs:week|series=cftc") == {D("2025-05-30"): 4, D("2025-06-06"): -3.5}


# --- idempotence --------------------------------------------------------------------------


async def test_loading_the_same_files_twice_changes_nothing(tmp_path: Path) -> None:
    kwargs = dict(
        closes=[(write(tmp_path / "vix.csv", CLOSES), "VIX")],
        flows=[write(tmp_path / "flows.csv", FLOWS)],
        exposures=[write(tmp_path / "exp.csv", EXPOSURES)],
        observations=[write(tmp_path / "obs.csv", "date,series,value\n2025-05-27,cftc,5\n")],
    )
    state = MemoryState()
    first = await backfill(state, **kwargs)
    once = await everything(state)
    second = await backfill(state, **kwargs, progress=True)
    assert await everything(state) == once
    assert first.points == second.points and first.rows == second.rows == 4 + 4 + 8 + 1
    assert first.files == 4


async def test_a_later_file_replaces_an_earlier_point(tmp_path: Path) -> None:
    a = write(tmp_path / "a.csv", "DATE,OPEN,HIGH,LOW,CLOSE\n2025-06-06,1,1,1,10\n")
    b = write(tmp_path / "b.csv", "DATE,OPEN,HIGH,LOW,CLOSE\n2025-06-06,1,1,1,12\n2025-06-13,1,1,1,13.2\n")
    state = MemoryState()
    await backfill(state, closes=[(a, "X"), (b, "X")])
    assert await points(state, "close:week|symbol=X") == {D("2025-06-06"): 12, D("2025-06-13"): 13.2}


# --- bad rows -----------------------------------------------------------------------------

HEADER = "week_end,fund_type,instrument_type,sector,sub_industry,strategy,buy_long,sell_long,sell_short,buy_to_cover,n\n"


@pytest.mark.parametrize(
    ("kind", "text", "line", "field", "words"),
    [
        ("flows", HEADER + "2025-06-06,hedge_fund,,Energy,,,1,1,1,1,\n2025-06-05,hedge_fund,,Energy,,,1,1,1,1,\n",
         3, "week_end", "not a Friday"),
        ("flows", HEADER + "2025-06-06,hedge_fund,,Energy,,,1,x1,1,1,\n", 2, "sell_long", "not a number"),
        ("flows", HEADER + "2025-06-06,hedge_fund,,Energy,,,1,-1,1,1,\n", 2, "sell_long", ">= 0"),
        ("flows", HEADER + "2025-06-06,,,Energy,,macro,1,1,1,1,\n", 2, "scope", "not a flow scope"),
        ("flows", HEADER + "2025-06-06,family_office,,,,,1,1,1,1,\n", 2, "fund_type", "unknown fund_type"),
        ("flows", HEADER + "2025-06-06,hedge_fund,,,,,1,1,1,1,\n2025-06-06,hedge_fund,,,,,1,1,1,1,\n", 3, "week_end",
         "appears twice"),
        ("flows", "week_end,buy_long,sell_long,sell_short\n2025-06-06,1,1,1\n", 1, "buy_to_cover", "missing column"),
        ("flows", HEADER + "2025-06-06,hedge_fund,,,,,1,nan,1,1,\n", 2, "sell_long", "finite"),
        ("exposures", "date,fund_type,strategy,sector,sub_industry,instrument_type,long_mv,short_mv,nav\n"
         "2025-06-06,,,Energy,,,1,1,5\n", 2, "nav", "must be empty"),
        ("exposures", "date,fund_type,strategy,sector,sub_industry,instrument_type,long_mv,short_mv,nav\n"
         "2025-06-06,,macro,,,,1,1,\n", 2, "nav", "empty value"),
        ("exposures", "date,fund_type,strategy,sector,sub_industry,instrument_type,long_mv,short_mv,nav\n"
         "2025-6-6,,macro,,,,1,1,2\n", 2, "date", "invalid date"),
        ("closes", "DATE,OPEN,HIGH,LOW,CLOSE\n2025-06-05,1,1,1,17\n2025-06-06,1,1,1,abc\n", 3, "CLOSE", "not a number"),
        ("closes", "DATE,OPEN,HIGH,LOW,CLOSE\n2025-06-06,1,1,1,0\n", 2, "CLOSE", "> 0"),
        ("observations", "date,series,value\n2025-06-06,,1\n", 2, "series", "empty series"),
    ],
)
async def test_a_bad_row_names_file_line_and_field(
    tmp_path: Path, kind: str, text: str, line: int, field: str, words: str
) -> None:
    path = write(tmp_path / f"{kind}.csv", text)
    arg = [(path, "VIX")] if kind == "closes" else [path]
    state = MemoryState()
    with pytest.raises(BackfillError) as caught:
        await backfill(state, **{kind: arg})
    err = caught.value
    assert isinstance(err, SignalMonitorError)
    assert (err.path, err.line, err.field) == (str(path), line, field)
    assert str(path) in str(err) and f"line {line}" in str(err) and repr(field) in str(err)
    assert words in str(err)
    assert await state.series_ids("") == []  # nothing half-loaded


async def test_bad_jsonl_and_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "obs.jsonl"
    path.write_text('{"date": "2025-06-06", "series": "x", "value": 1}\n{"date": "2025-06-06", "series": \n', encoding="utf-8")
    with pytest.raises(BackfillError, match="line 2: invalid JSON") as caught:
        await backfill(MemoryState(), observations=[path])
    assert caught.value.line == 2
    path.write_text('{"date": "2025-06-06", "value": 1}\n', encoding="utf-8")
    with pytest.raises(BackfillError, match="field 'series': missing field"):
        await backfill(MemoryState(), observations=[path])
    with pytest.raises(BackfillError, match="unknown extension"):
        await backfill(MemoryState(), flows=[write(tmp_path / "flows.txt", HEADER)])
    with pytest.raises(BackfillError, match="no such file"):
        await backfill(MemoryState(), flows=[tmp_path / "missing.csv"])
