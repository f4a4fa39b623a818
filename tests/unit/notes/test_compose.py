"""The composer: which alerts make the week's note, in which section and order, and how it renders."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest

from signal_monitor.config.settings import DEFAULT_RULES_PATH
from signal_monitor.notes.compose import compose
from signal_monitor.notes.notebook import Notebook
from signal_monitor.notes.render import markdown, render, slack_blocks, text
from signal_monitor.rules.alert import Alert
from signal_monitor.rules.model import load_rules, parse_rules
from signal_monitor.state.memory import MemoryState
from tests.unit.delivery.factory import make_alert

WEEK = date(2025, 6, 6)
NOW = datetime(2025, 6, 6, 22, 0, tzinfo=timezone.utc)
RULES = load_rules(DEFAULT_RULES_PATH)
HF = {"fund_type": "hedge_fund"}


def _day(rule: str, scope: dict[str, str], day: date, text: str, **kw: object) -> Alert:
    alert = make_alert(rule, scope, period=day, text=text, **kw)  # type: ignore[arg-type]
    return alert.model_copy(update={"granularity": "day", "period_start": day})


def test_sections_follow_the_note_and_claims_their_rank() -> None:
    alerts = [
        make_alert("crowding_spread", {"symbol": "HF_VIP"}, text="VIP lagged most-short by 8 points."),
        make_alert("hf_long_short_flow_ratio", HF, severity="info", text="Long buys 3.0 to 1."),
        make_alert("hf_net_buying_streak", HF, severity="info", text="Net buying for the 5th week."),
        make_alert("gross_leverage_percentile", {"strategy": "fundamental_long_short"}, text="97th percentile."),
    ]
    note = compose(WEEK, alerts, rules=RULES, now=NOW)
    assert [s.title for s in note.sections] == ["Flows", "Leverage", "Divergence and crowding"]
    assert [c.text for c in note.sections[0].claims] == ["Net buying for the 5th week.", "Long buys 3.0 to 1."]
    assert note.headline == "Net buying for the 5th week."  # rank 1, although another alert is a warning


def test_a_correction_replaces_its_alert_and_a_withdrawal_drops_it() -> None:
    first = make_alert("hf_flow_mix", HF, text="Macro 23% of net buying.")
    corrected = make_alert("hf_flow_mix", HF, text="Macro 25% of net buying.", revision=2)
    kept = make_alert("hf_net_buying_streak", HF, text="Net buying for the 5th week.")
    withdrawn = make_alert("hf_net_buying_streak", HF, text="", revision=2, fired=False)
    note = compose(WEEK, [corrected, first, kept, withdrawn], rules=RULES, now=NOW)
    assert [c.text for c in note.claims] == ["Macro 25% of net buying."]
    assert note.claims[0].revision == 2


def test_each_rule_and_scope_is_one_claim_the_latest_day_of_the_week() -> None:
    vix = {"symbol": "VIX"}
    tuesday = _day("vix_low_since", vix, date(2025, 6, 3), "Lowest since February on Tuesday.")
    friday = _day("vix_low_since", vix, date(2025, 6, 6), "Lowest since February on Friday.")
    other_sector = [
        make_alert("sector_net_buying_streak", {**HF, "sector": s}, text=f"{s}: 6th week.")
        for s in ("Health Care", "Energy")
    ]
    note = compose(WEEK, [friday, tuesday, *other_sector], rules=RULES, now=NOW)
    assert [c.text for c in note.claims if c.rule == "vix_low_since"] == ["Lowest since February on Friday."]
    assert len([c for c in note.claims if c.rule == "sector_net_buying_streak"]) == 2  # two scopes, two claims


def test_provisional_and_other_weeks_alerts_never_go_in() -> None:
    provisional = make_alert("hf_net_buying_streak", HF, text="Provisional streak.", provisional=True)
    last_week = make_alert("hf_flow_mix", HF, text="Last week's mix.", period=WEEK - timedelta(days=7))
    monday_after = _day("vix_below_17", {"symbol": "VIX"}, WEEK + timedelta(days=3), "Next Monday.")
    note = compose(WEEK, [provisional, last_week, monday_after], rules=RULES, now=NOW)
    assert note.claims == []
    assert note.headline == "No rule fired in the week ending 2025-06-06."


def test_a_carried_rule_brings_its_recent_alert_and_only_within_its_weeks() -> None:
    record = make_alert("gross_leverage_record", {"strategy": "fundamental_long_short"}, text="Record 215%.",
                        period=date(2025, 5, 23))
    old = make_alert("gross_leverage_record", {"strategy": "fundamental_long_short"}, text="Old record.",
                     period=date(2025, 4, 4))
    mix = make_alert("hf_flow_mix", HF, text="Mix two weeks ago.", period=date(2025, 5, 23))  # carry 0
    note = compose(WEEK, [], rules=RULES, earlier={date(2025, 5, 23): [record, mix], date(2025, 4, 4): [old]}, now=NOW)
    assert [(c.text, c.carried) for c in note.claims] == [("Record 215%.", True)]
    assert "Earlier: Record 215%." in markdown(note)


def test_a_desks_rule_without_a_placement_goes_under_other_signals_last() -> None:
    rules = parse_rules(
        "rules:\n"
        "  - {id: desk_rule, description: d., metric: close, period: day, scope: {symbol: SPX},"
        " kind: threshold_cross, params: {direction: below, level: 1.0, rearm: 2.0}}\n"
        "  - {id: desk_flows, description: d., metric: close, period: day, scope: {symbol: SPX},"
        " kind: threshold_cross, params: {direction: below, level: 1.0, rearm: 2.0}, note: {section: flows, rank: 3}}\n"
        "  - {id: desk_hidden, description: d., metric: close, period: day, scope: {symbol: SPX},"
        " kind: threshold_cross, params: {direction: below, level: 1.0, rearm: 2.0}, note: {include: false}}\n"
    )
    alerts = [make_alert(r, {"symbol": "SPX"}, text=f"{r} fired.") for r in ("desk_rule", "desk_flows", "desk_hidden")]
    note = compose(WEEK, alerts, rules=rules, now=NOW)
    assert [(s.key, [c.rule for c in s.claims]) for s in note.sections] == [
        ("flows", ["desk_flows"]),
        ("other", ["desk_rule"]),
    ]


@pytest.mark.parametrize(
    ("entry", "field", "words"),
    [
        ("{section: flow}", "note.section", "'flows'"),
        ("{rank: 0}", "note.rank", "greater than or equal to 1"),
        ("{sections: flows}", "note.sections", "Extra inputs"),
        ("flows", "note", "valid dictionary"),
    ],
)
def test_a_bad_note_entry_names_the_file_rule_and_field(entry: str, field: str, words: str) -> None:
    from signal_monitor.errors import RuleFileError

    text_ = (
        "rules:\n  - {id: desk_rule, description: d., metric: close, period: day, scope: {symbol: SPX},"
        f" kind: threshold_cross, params: {{direction: below, level: 1.0, rearm: 2.0}}, note: {entry}}}\n"
    )
    with pytest.raises(RuleFileError) as caught:
        parse_rules(text_, "desk-rules.yaml")
    message = str(caught.value)
    assert message.startswith(f"desk-rules.yaml, rule 'desk_rule', field '{field}'"), message
    assert words in message, message


def test_renderers_show_the_alert_texts_as_they_are_escaped_where_the_format_needs_it() -> None:
    alert = make_alert("hf_net_buying_streak", HF, text="Hedge funds: <b>$400M</b> & *5th* week.")
    note = compose(WEEK, [alert], rules=RULES, now=NOW)
    assert "Hedge funds: <b>$400M</b> & *5th* week." in text(note)
    assert "\\<b\\>$400M\\</b\\> & \\*5th\\* week." in markdown(note)
    blocks = json.dumps(slack_blocks(note))
    assert "&lt;b&gt;$400M&lt;/b&gt; &amp;" in blocks and "<b>" not in blocks
    assert render(note, "text") == text(note)
    with pytest.raises(ValueError, match="unknown note format"):
        render(note, "html")


def test_a_note_has_at_most_fifty_blocks_and_cuts_a_long_section() -> None:
    alerts = [
        make_alert("sector_net_buying_streak", {**HF, "sector": f"S{i:03d}"}, text="x" * 200) for i in range(40)
    ]
    blocks = slack_blocks(compose(WEEK, alerts, rules=RULES, now=NOW))
    assert len(blocks) <= 50
    sections = [b for b in blocks if b["type"] == "section"]
    assert all(len(b["text"]["text"]) <= 3000 for b in sections)
    assert sections[1]["text"]["text"].endswith("[truncated]")


async def test_the_notebook_composes_at_the_weeks_close_and_again_only_when_it_changes() -> None:
    state = MemoryState()
    sent = []

    async def deliver(note: object) -> None:
        sent.append(note)

    book = Notebook(state, RULES, on_note=deliver)
    daily = _day("vix_below_17", {"symbol": "VIX"}, WEEK, "VIX below 17.")
    assert await book.take([daily]) == []  # a daily alert alone does not close the week
    assert await state.get_note(WEEK) is None
    weekly = make_alert("hf_net_buying_streak", HF, text="Net buying for the 5th week.")
    await book.take([weekly])
    assert [n.revision for n in sent] == [1]
    assert [c.text for c in sent[0].claims] == ["Net buying for the 5th week.", "VIX below 17."]
    await book.take([weekly])  # handed on again (a close taken over): the same note, nothing new
    assert len(sent) == 1
    await book.take([make_alert("hf_net_buying_streak", HF, text="Net buying for the 4th week.", revision=2)])
    assert [n.revision for n in sent] == [1, 2]
    assert sent[1].headline == "Net buying for the 4th week."
    assert (await book.stored(WEEK)) == sent[1]
    await book.take([make_alert("hf_net_buying_streak", HF, text="stale", revision=1)])  # an older revision
    assert len(sent) == 2
    same = make_alert("hf_net_buying_streak", HF, text="Net buying for the 4th week.", revision=3)
    await book.take([same])  # a correction whose text is unchanged: the note says the same, nothing is sent
    assert len(sent) == 2
    assert await state.note_weeks() == [WEEK]
