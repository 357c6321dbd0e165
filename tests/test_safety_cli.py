"""The command's error contract: every failure is one line on stderr and exit status 2, naming the
file the user gave (never a temporary file), and interrupted writes are cleaned up on the next run."""

from __future__ import annotations

import os
import warnings

import pytest

from ventgen import cli
from ventgen._core import (
    atomic_dir,
    atomic_path,
    atomic_paths,
    clean_stale_temporaries,
    current_umask,
)
from ventgen.errors import VentgenValueError, VentgenWarning


def _run(monkeypatch, capsys, exc):
    """Run ``ventgen info x`` with the info command replaced by one that raises ``exc``."""

    def boom(args):
        raise exc

    parser = cli.build_parser()
    args = parser.parse_args(["info", "x"])
    args.func = boom
    monkeypatch.setattr(cli.build_parser().__class__, "parse_args", lambda self, argv=None: args)
    rc = cli.main(["info", "x"])
    return rc, capsys.readouterr().err


@pytest.mark.parametrize(
    "exc, needle",
    [
        (MemoryError(), "out of memory"),
        (RecursionError("maximum recursion depth exceeded"), "nested too deeply"),
        (OverflowError("Python int too large to convert to C long"), "unexpected OverflowError"),
        (KeyError("flow"), "unexpected KeyError"),
        (OSError(28, "No space left on device", "/data/out.h5"), "/data/out.h5: No space left on device"),
        (VentgenValueError("spec.json: 'minutes' must be finite\nsecond line"), "must be finite; second line"),
    ],
)
def test_every_error_is_one_line_and_exit_2(monkeypatch, capsys, exc, needle):
    rc, err = _run(monkeypatch, capsys, exc)
    lines = err.splitlines()
    assert rc == 2
    assert len(lines) == 1 and lines[0].startswith("ventgen: error: ")
    assert needle in lines[0]
    assert "Traceback" not in err


def test_debug_shows_the_traceback(monkeypatch):
    parser = cli.build_parser()
    args = parser.parse_args(["--debug", "info", "x"])

    def boom(a):
        raise KeyError("flow")

    args.func = boom
    monkeypatch.setattr(cli.build_parser().__class__, "parse_args", lambda self, argv=None: args)
    with pytest.raises(KeyError):
        cli.main(["--debug", "info", "x"])


def test_messages_never_name_a_temporary_file(monkeypatch, capsys, tmp_path):
    tmp_name = tmp_path / f".model.pt.vg{os.getpid()}-0a1b2c3d.tmp"
    rc, err = _run(monkeypatch, capsys, OSError(28, "No space left on device", str(tmp_name)))
    assert rc == 2
    assert ".tmp" not in err and "vg" not in err.split("model.pt")[-1]
    assert str(tmp_path / "model.pt") in err


def test_warnings_are_one_line(monkeypatch, capsys):
    parser = cli.build_parser()
    args = parser.parse_args(["info", "x"])

    def warn(a):
        warnings.warn("first\nsecond", VentgenWarning, stacklevel=1)

    args.func = warn
    monkeypatch.setattr(cli.build_parser().__class__, "parse_args", lambda self, argv=None: args)
    assert cli.main(["info", "x"]) == 0
    err = capsys.readouterr().err
    assert err == "ventgen: warning: first; second\n"


# --------------------------------------------------------------------------- atomic writes
def test_atomic_path_respects_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "a.txt") as tmp:
            tmp.write_text("a")
        with atomic_dir(tmp_path / "d") as tmp:
            (tmp / "x").write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755
    assert current_umask() == old


def test_atomic_paths_is_all_or_nothing(tmp_path):
    a, b = tmp_path / "a.h5", tmp_path / "b.csv"
    with pytest.raises(RuntimeError), atomic_paths([a, b]) as (ta, tb):
        ta.write_text("a")
        raise RuntimeError("killed while writing the second file")
    assert sorted(os.listdir(tmp_path)) == []
    b.write_text("old")
    with pytest.raises(FileExistsError), atomic_paths([a, b]):
        raise AssertionError("must be refused before any work")  # pragma: no cover
    assert sorted(os.listdir(tmp_path)) == ["b.csv"]


def test_stale_temporaries_of_dead_runs_are_removed_and_said(tmp_path):
    dead = tmp_path / ".x.pt.vg999999999-abcdef01.tmp"
    dead.write_text("half a model")
    stale_dir = tmp_path / ".cohort.vg999999999-abcdef02.tmp"
    stale_dir.mkdir()
    (stale_dir / "p0.h5").write_text("half")
    alive = tmp_path / f".y.pt.vg{os.getpid()}-abcdef03.tmp"
    alive.write_text("being written")
    foreign = tmp_path / ".x.pt.notours.tmp"
    foreign.write_text("someone else's")
    with pytest.warns(VentgenWarning, match="interrupted ventgen run"):
        with atomic_path(tmp_path / "x.pt") as tmp:
            tmp.write_text("model")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["x.pt", alive.name, foreign.name])


def test_a_folder_killed_mid_replacement_is_restored(tmp_path):
    # the non-atomic fallback renames the old folder to .old before moving the new one in
    old = tmp_path / ".cohort.vg999999999-abcdef04.old"
    old.mkdir()
    (old / "cohort.json").write_text("{}")
    with pytest.warns(VentgenWarning, match="restored cohort"):
        done = clean_stale_temporaries(tmp_path)
    assert done == [f"restored cohort from {old.name}"]
    assert (tmp_path / "cohort" / "cohort.json").read_text() == "{}"


def test_atomic_dir_replaces_in_one_step(tmp_path):
    out = tmp_path / "cohort"
    with atomic_dir(out) as tmp:
        (tmp / "a").write_text("old")
    with atomic_dir(out, replace=True) as tmp:
        assert (out / "a").read_text() == "old"  # the old folder is intact while the new is written
        (tmp / "a").write_text("new")
    assert (out / "a").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cohort"]
    with pytest.raises(FileExistsError):
        with atomic_dir(out):
            pass  # pragma: no cover


def test_atomic_path_suffix_ends_the_temporary_name(tmp_path):
    import numpy as np

    with atomic_path(tmp_path / "runs.npz", suffix=".npz") as tmp:
        assert tmp.name.endswith(".npz")
        np.savez(tmp, a=np.arange(3))  # numpy adds .npz unless the name already ends with it
    assert np.load(tmp_path / "runs.npz")["a"].tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.npz"]
    with pytest.raises(VentgenValueError, match="suffix"):
        with atomic_path(tmp_path / "x", suffix="/../evil"):
            pass  # pragma: no cover


def test_progress_bars_do_not_flood_a_log():
    import io

    from ventgen._core.progress import LOG_INTERVAL_S, progress

    log = io.StringIO()  # not a terminal
    bar = progress(range(1000), enabled=True, file=log)
    assert bar.mininterval == LOG_INTERVAL_S
    list(bar)
    bar.close()
    assert log.getvalue().count("\r") <= 3  # the first draw and the last, not one per item
