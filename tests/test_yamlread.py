"""The generic YAML node reader (metricdsl/_yamlread.py) on its own, with a
small format that is not the definitions format: what it takes from its user
(what a document holds, what a missing key expects) and its helpers. The
definitions loader's use of it is tested, message by message, in
tests/test_definitions.py."""

from __future__ import annotations

from pathlib import Path

import yaml

from metricdsl._errors import did_you_mean as hint
from metricdsl._yamlread import Location, NodeReader, describe, quoted


def read(path: Path, *, required: tuple[str, ...] = ()) -> list[str]:
    """The problems of reading one file as a mapping of 'host' and 'port'."""
    reader = NodeReader(document="a server", expectations={"host": "a host name"})
    root = reader.read_file(0, str(path))
    if root is not None:
        reader.mapping(root, "server", ("host", "port"), required=required)
    return [str(problem) for _, problem in reader.problems]


def scalar(text: str) -> yaml.ScalarNode:
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    assert isinstance(node, yaml.ScalarNode)
    return node


class TestNodeReader:
    def test_an_empty_file_expects_the_callers_document(self, tmp_path: Path) -> None:
        path = tmp_path / "empty.yaml"
        path.write_text("# nothing\n", encoding="utf-8")
        assert read(path) == [
            f"{path}:1:1: file is empty; expected a server; got no document"
        ]

    def test_a_missing_key_expects_what_the_caller_says(self, tmp_path: Path) -> None:
        path = tmp_path / "server.yaml"
        path.write_text("prot: 80\n", encoding="utf-8")
        assert read(path, required=("host", "port")) == [
            f"{path}:1:1: unknown key in server; expected one of 'host' or 'port';"
            " got 'prot'; did you mean 'port'?",
            f"{path}:1:1: server has no 'host'; expected a host name;"
            " got no 'host' key",
            f"{path}:1:1: server has no 'port'; expected a 'port' key;"
            " got no 'port' key",
        ]

    def test_problems_are_filed_under_the_current_file(self, tmp_path: Path) -> None:
        first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
        first.write_text("host: [\n", encoding="utf-8")
        second.write_text("host: x\n", encoding="utf-8")
        reader = NodeReader(document="a server", expectations={})
        assert reader.read_file(0, str(first)) is None
        root = reader.read_file(1, str(second))
        assert root is not None
        reader.mapping(root, "server", ("port",))
        assert [index for index, _ in reader.problems] == [0, 1]

    def test_a_plain_exponent_is_a_number_only_where_numbers_are_wanted(
        self,
    ) -> None:
        reader = NodeReader(document="x", expectations={})
        assert reader.string_or_number(scalar("1e5"), numbers=True) == 100000.0
        assert reader.string_or_number(scalar("1e5"), numbers=False) == "1e5"
        assert reader.string_or_number(scalar("'1e5'"), numbers=True) == "1e5"
        assert reader.string_or_number(scalar(".inf"), numbers=True) is None
        assert reader.problems == []


class TestHelpers:
    def test_quoted_names(self) -> None:
        assert quoted(["a"]) == "'a'"
        assert quoted(["a", "b", "c"], "and") == "'a', 'b' and 'c'"

    def test_hint_only_for_a_close_name(self) -> None:
        assert hint("requried", ["required", "type"]) == "did you mean 'required'?"
        assert hint("zzz", ["required", "type"]) is None

    def test_describe_says_what_a_node_is(self) -> None:
        assert describe(scalar("'x'")) == "'x'"
        assert describe(scalar("12")) == "12"
        assert describe(scalar("!!int '12'")) == "!!int '12'"
        assert describe(yaml.compose("[1]", Loader=yaml.SafeLoader)) == "a list"

    def test_a_location_reads_as_path_line_column(self) -> None:
        assert str(Location("a.yaml", 3, 7)) == "a.yaml:3:7"
