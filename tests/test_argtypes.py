"""vstm.cli.argtypes: the flag checkers every command shares, and the one --model-option reader."""

import argparse

import pytest

from vstm import VstmError
from vstm.cli import build_parser
from vstm.cli.argtypes import parse_option


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hidden_channels=32", ("hidden_channels", 32)),
        ("w=0.5", ("w", 0.5)),
        ("flag=true", ("flag", True)),
        ("sizes=[1, 2]", ("sizes", [1, 2])),
        ("lstm_impl=fft", ("lstm_impl", "fft")),  # not JSON: kept as the string
        (" key =a=b", ("key", "a=b")),  # the first = splits; the key is stripped
        ("empty=", ("empty", "")),
    ],
)
def test_parse_option(text, expected):
    assert parse_option(text) == expected


def test_parse_option_without_equals_names_the_flag():
    with pytest.raises(VstmError, match=r"--model-option 'hidden_channels': expected KEY=VALUE"):
        parse_option("hidden_channels")


def _parsers(parser: argparse.ArgumentParser, prog: str = "vstm"):
    yield prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{prog} {name}")


def test_no_flag_of_any_command_parses_with_bare_int_or_float():
    # argparse's int/float accept -3, nan and inf; the argtypes checkers name the bound instead
    # (a flag with a list of choices is bounded by it)
    bare = [
        f"{prog} {'/'.join(a.option_strings) or a.dest}"
        for prog, p in _parsers(build_parser())
        for a in p._actions
        if a.type in (int, float) and a.choices is None
    ]
    assert not bare
    assert len(list(_parsers(build_parser()))) > 10  # the walk reached the sub-commands
