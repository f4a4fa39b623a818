"""Rules: the rule schema and loader, the kinds, the engine and the alerts it produces."""

from signal_monitor.rules.alert import Alert, dedup_key
from signal_monitor.rules.engine import RuleEngine
from signal_monitor.rules.kinds import KINDS, Finding, Inputs
from signal_monitor.rules.model import Check, Rule, RuleSet, load_rules, parse_rules

__all__ = [
    "KINDS",
    "Alert",
    "Check",
    "Finding",
    "Inputs",
    "Rule",
    "RuleEngine",
    "RuleSet",
    "dedup_key",
    "load_rules",
    "parse_rules",
]
