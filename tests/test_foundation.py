"""Shared helpers, label trees and the CLI frame."""

from __future__ import annotations

import numpy as np
import pytest

import ventgen
from ventgen import cli
from ventgen._core import atomic_path, check_random_state
from ventgen.errors import VentgenTypeError, VentgenValueError
from ventgen.labels import VENTILATION_TREE, LabelTree, flat_tree


def test_random_state_same_seed_same_numbers():
    a = check_random_state(3).normal(size=5)
    b = check_random_state(3).normal(size=5)
    np.testing.assert_array_equal(a, b)
    g = np.random.default_rng(1)
    assert check_random_state(g) is g


@pytest.mark.parametrize("bad", [-1, "seed", 1.5])
def test_random_state_rejects_bad_values(bad):
    with pytest.raises(VentgenTypeError):
        check_random_state(bad)


def test_atomic_path_writes_and_refuses_overwrite(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("one")
    assert target.read_text() == "one"
    with pytest.raises(FileExistsError):
        with atomic_path(target) as tmp:
            tmp.write_text("two")
    with atomic_path(target, overwrite=True) as tmp:
        tmp.write_text("two")
    assert target.read_text() == "two"


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_ventilation_tree_structure_and_distances():
    tree = VENTILATION_TREE
    assert tree.n_levels == 2
    assert len(tree.classes) == 10
    assert set(tree.level_labels(1)) == {"normal breathing", "respiratory event", "movement"}
    assert tree.ancestor("apnea", 1) == "respiratory event"
    assert tree.distance("apnea", "apnea") == 0
    assert tree.distance("apnea", "snoring") == 2
    assert tree.distance("apnea", "lying down") == 4
    d = tree.distance_matrix()
    np.testing.assert_array_equal(d, d.T)
    assert np.all(np.diag(d) == 0)


def test_label_tree_round_trip_and_errors():
    tree = LabelTree({"a": ["x"], "b": ["x"], "c": ["y"]}, name="t")
    assert LabelTree.from_dict(tree.to_dict()).to_dict() == tree.to_dict()
    with pytest.raises(VentgenValueError):
        LabelTree({"a": ["x"], "b": []})
    flat = flat_tree(["0", "1"])
    assert flat.distance("0", "1") == 2


def test_cli_version_and_help(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert ventgen.__version__ in capsys.readouterr().out


def test_cli_bad_argument_is_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["no-such-command"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "error" in err


def test_every_subcommand_has_help_with_examples(capsys):
    parser = cli.build_parser()
    names = [name for name, _ in cli.COMMANDS]
    for name in names:
        with pytest.raises(SystemExit) as exc:
            parser.parse_args([name, "--help"])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert "examples:" in out, f"ventgen {name} --help has no examples"
