"""The offline commands: ``backtest`` over the real VIX history, and the input options ``replay`` shares."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from signal_monitor.cli import main

VIX_CSV = Path(__file__).resolve().parents[3] / "data" / "vix-daily.csv"

DESK_RULES = """\
version: 1
rules:
  - id: desk_vix_below_17
    description: The VIX closes below 17; re-armed by a close at or above 18.
    metric: close
    period: day
    scope: {symbol: VIX}
    kind: threshold_cross
    params: {direction: below, level: 17, rearm: 18}
    severity: warning
  - id: desk_vix_above_40
    description: The VIX closes above 40; re-armed by a close at or below 30.
    metric: close
    period: day
    scope: {symbol: VIX}
    kind: threshold_cross
    params: {direction: above, level: 40, rearm: 30}
"""


def crossings(path: Path, *, below: bool, level: float, rearm: float) -> list[date]:
    """The days a close crosses ``level`` while armed, computed straight from the CSV (not by the program).

    Disarmed at the start; a close at or beyond ``rearm`` arms; a close beyond ``level`` fires when armed
    and disarms.
    """
    rows = []
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            month, day, year = row["DATE"].split("/") if "/" in row["DATE"] else (None, None, None)
            d = date(int(year), int(month), int(day)) if month else date.fromisoformat(row["DATE"])
            rows.append((d, float(row["CLOSE"])))
    rows.sort()
    armed, fired = False, []
    for d, close in rows:
        beyond = close < level if below else close > level
        if beyond:
            if armed:
                fired.append(d)
            armed = False
        elif (close >= rearm) if below else (close <= rearm):
            armed = True
    return fired


@pytest.fixture
def desk_rules(tmp_path: Path) -> Path:
    path = tmp_path / "desk-rules.yaml"
    path.write_text(DESK_RULES)
    return path


def test_backtest_over_the_real_vix_history_counts_per_year_what_the_csv_says(desk_rules: Path) -> None:
    result = CliRunner().invoke(
        main, ["backtest", "--closes", f"VIX={VIX_CSV}", "--rules", str(desk_rules), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    for rule, below, level, rearm in (("desk_vix_below_17", True, 17, 18), ("desk_vix_above_40", False, 40, 30)):
        expected = crossings(VIX_CSV, below=below, level=level, rearm=rearm)
        per_year = Counter(d.year for d in expected)
        got = report["rules"][rule]
        assert got["total"] == len(expected)
        assert {int(y): n for y, n in got["per_year"].items() if n} == dict(per_year)
        assert set(map(int, got["per_year"])) == set(range(1990, 2027))  # every year listed, zeros included
        fired = sorted(a["period_end"] for a in report["alerts"] if a["rule"] == rule)
        assert fired == [d.isoformat() for d in expected]
    assert report["rules"]["desk_vix_below_17"]["total"] > 100  # the real history has well over a hundred


def test_backtest_from_to_and_one_rule_prints_a_table_and_the_list(desk_rules: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["backtest", "--closes", f"VIX={VIX_CSV}", "--rules", str(desk_rules), "--rule", "desk_vix_below_17",
         "--from", "2024-01-01", "--to", "2025-06-30"],
    )
    assert result.exit_code == 0, result.output
    expected = [d for d in crossings(VIX_CSV, below=True, level=17, rearm=18) if date(2024, 1, 1) <= d <= date(2025, 6, 30)]
    per_year = Counter(d.year for d in expected)
    out = result.output
    assert "desk_vix_above_40" not in out
    for year in (2024, 2025):
        assert any(line.split("│")[1:3] == [f" {year}  ", f" {per_year[year]:>17} "] for line in out.splitlines()), out
    assert "2026" not in out.split("alerts per year")[1].split("total")[0]
    assert date(2025, 6, 6) in expected and "2025-06-06" in out  # the note's week


def test_backtest_refuses_an_unknown_rule(desk_rules: Path) -> None:
    result = CliRunner().invoke(main, ["backtest", "--closes", f"VIX={VIX_CSV}", "--rules", str(desk_rules), "--rule", "nope"])
    assert result.exit_code == 2
    assert "unknown rule 'nope' (known: desk_vix_below_17, desk_vix_above_40)" in result.output


def test_replay_reads_closes_as_backfill_spells_them_and_the_old_spelling_still_works(tmp_path: Path) -> None:
    rows = [line for line in VIX_CSV.read_text().splitlines() if line.startswith(("DATE", "2024-", "2025-"))]
    excerpt = tmp_path / "vix.csv"
    excerpt.write_text("\n".join(rows) + "\n")
    runner = CliRunner()
    new = runner.invoke(main, ["replay", "--closes", f"VIX={excerpt}", "--json", "--memory"])
    old = runner.invoke(main, ["replay", "--quotes", str(excerpt), "--format", "cboe", "--symbol", "VIX", "--json", "--memory"])
    assert new.exit_code == 0 and old.exit_code == 0, new.output + old.output
    keys = lambda out: [json.loads(line)["dedup_key"] for line in out.splitlines() if line.startswith("{")]  # noqa: E731
    assert keys(new.output) and keys(new.output) == keys(old.output)
    assert "deprecated; write --closes VIX=" in old.output and "deprecated" not in new.output


def test_closes_must_be_symbol_equals_path() -> None:
    result = CliRunner().invoke(main, ["backtest", "--closes", str(VIX_CSV)])
    assert result.exit_code == 2
    assert "expected SYMBOL=PATH" in result.output


def test_replay_takes_rules_as_backtest_does(tmp_path: Path, desk_rules: Path) -> None:
    rows = [line for line in VIX_CSV.read_text().splitlines() if line.startswith(("DATE", "2025-"))]
    excerpt = tmp_path / "vix.csv"
    excerpt.write_text("\n".join(rows) + "\n")
    result = CliRunner().invoke(main, ["replay", "--closes", f"VIX={excerpt}", "--rules", str(desk_rules), "--json", "--memory"])
    assert result.exit_code == 0, result.output
    fired = {json.loads(line)["rule"] for line in result.output.splitlines() if line.startswith("{")}
    assert fired == {"desk_vix_below_17", "desk_vix_above_40"}


LOW_RULES = """\
version: 1
rules:
  - id: desk_vix_low
    description: The VIX close is the lowest in at least 60 trading days.
    metric: close
    period: day
    scope: {symbol: VIX}
    kind: extreme
    params: {side: low, min_lookback: 60}
  - id: desk_vix_low_cooled
    description: The same, quiet for 20 trading days after an alert.
    metric: close
    period: day
    scope: {symbol: VIX}
    kind: extreme
    params: {side: low, min_lookback: 60}
    cooldown: 20
"""


def lows_since(path: Path, *, lookback: int, cooldown: int) -> list[date]:
    """The days a close is the lowest in at least ``lookback`` closes, computed straight from the CSV.

    A close is the lowest since the last close at or below it; with none, since the first close. After a
    day kept, the next ``cooldown`` closes are left out.
    """
    rows = []
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            rows.append((date.fromisoformat(row["DATE"]), float(row["CLOSE"])))
    rows.sort()
    fired: list[int] = []
    for i in range(1, len(rows)):
        j = i - 1
        while j >= 0 and rows[j][1] > rows[i][1]:
            j -= 1
        if (i if j < 0 else i - j) >= lookback and (not fired or i - fired[-1] > cooldown):
            fired.append(i)
    return [rows[i][0] for i in fired]


def test_a_cooldown_cuts_the_vix_lows_of_a_falling_market(tmp_path: Path) -> None:
    path = tmp_path / "lows.yaml"
    path.write_text(LOW_RULES)
    result = CliRunner().invoke(main, ["backtest", "--closes", f"VIX={VIX_CSV}", "--rules", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    every = lows_since(VIX_CSV, lookback=60, cooldown=0)
    cooled = lows_since(VIX_CSV, lookback=60, cooldown=20)
    for rule, expected in (("desk_vix_low", every), ("desk_vix_low_cooled", cooled)):
        assert report["rules"][rule]["total"] == len(expected)
        fired = sorted(a["period_end"] for a in report["alerts"] if a["rule"] == rule)
        assert fired == [d.isoformat() for d in expected]
    assert len(cooled) < len(every) / 3  # consecutive days in a falling market alert once
    assert date(2025, 6, 6) in cooled and date(2025, 6, 26) not in cooled
