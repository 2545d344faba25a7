"""`python -m pruning prune|export|report|digits` end to end."""
import json
import re
import os
import subprocess
import sys

import numpy as np
import pytest

from pruning.cli import main
from pruning.export import load_export
from pruning.cli import report_rows

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def model(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "model.npz"
    np.savez(path, **{"fc0.weight": rng.standard_normal((32, 20)).astype(np.float32),
                      "fc0.bias": np.zeros(32, np.float32),
                      "conv.weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32)})
    return path


def test_help_runs_as_module():
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-m", "pruning", "--help"], capture_output=True,
                         text=True, env=env, check=True)
    assert "prune" in out.stdout and "export" in out.stdout and "report" in out.stdout


def test_prune_export_report(tmp_path, model, capsys):
    pruned = tmp_path / "p.npz"
    assert main(["prune", str(model), "-o", str(pruned), "--nm", "2:4"]) == 0
    with np.load(pruned, allow_pickle=False) as z:
        recipe = json.loads(str(z["__recipe__"]))
        assert recipe["nm"] == "2:4" and set(recipe["layers"]) == {"fc0.weight", "conv.weight"}
        assert np.array_equal(z["fc0.bias"], np.zeros(32))
    for fmt in ("csr", "rlc", "sparse24"):
        assert main(["export", str(pruned), "-o", str(tmp_path / fmt), "--format", fmt,
                     "--per", "row", "--hex-ext", ".mem"]) == 0
        loaded = load_export(tmp_path / fmt / "fc0.weight.json")
        assert loaded["manifest"]["recipe"]["nm"] == "2:4"
        assert (tmp_path / fmt / "fc0.weight.values.mem").exists() or fmt == "rlc"
    capsys.readouterr()
    assert main(["report", str(pruned), "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "fc0.weight" in out and "2:4 b" in out and "total" in out
    rows = json.loads((tmp_path / "r.json").read_text())
    fc = next(r for r in rows if r["layer"] == "fc0.weight")
    assert fc["requested"] == 0.5 and fc["achieved"] == 0.5 and fc["mac_reduction"] == 2.0
    assert fc["bits_sparse24"] == 32 * 5 * 2 * (8 + 2) and fc["bits_dense"] == 32 * 20 * 8


def test_errors_name_layer_and_write_nothing(tmp_path, model, capsys):
    out = tmp_path / "x.npz"
    assert main(["prune", str(model), "-o", str(out), "--sparsity", "1.0"]) == 2
    assert "layer 'fc0.weight'" in capsys.readouterr().err and not out.exists()
    assert main(["prune", str(model), "-o", str(out), "--layers", "nope"]) == 2
    assert "layer 'nope'" in capsys.readouterr().err
    # A dense layer cannot go to sparse24: the error names it and no file is written.
    assert main(["export", str(model), "-o", str(tmp_path / "e"), "--format", "sparse24"]) == 2
    assert "layer 'fc0.weight'" in capsys.readouterr().err and not (tmp_path / "e").exists()
    bad = tmp_path / "bad.npz"
    np.savez(bad, w=np.array([[1.0, np.nan]]))
    assert main(["prune", str(bad), "-o", str(out)]) == 2
    assert "layer 'w'" in capsys.readouterr().err and not out.exists()
    obj = tmp_path / "obj.npz"
    o = np.empty(1, dtype=object)
    o[0] = [1]
    np.savez(obj, w=o)
    assert main(["report", str(obj)]) == 2
    assert "without pickles" in capsys.readouterr().err


def test_report_plot(tmp_path, model):
    pytest.importorskip("matplotlib")
    sweep = {"dense": 0.97, "rows": [{"method": "one-shot", "sparsity": 0.5, "accuracy": 0.96},
                                     {"method": "one-shot", "sparsity": 0.9, "accuracy": 0.8}]}
    (tmp_path / "s.json").write_text(json.dumps(sweep))
    png = tmp_path / "acc.png"
    assert main(["report", str(model), "--plot", str(png), "--sweep", str(tmp_path / "s.json")]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_progress_bar_quiet_off_tty_and_draws_on_tty():
    import io

    from pruning.progress import Progress

    buf = io.StringIO()
    with Progress(3, "x", stream=buf) as p:
        p.update()
    assert buf.getvalue() == ""

    class Tty(io.StringIO):
        def isatty(self):
            return True
    t = Tty()
    with Progress(2, "job", stream=t) as p:
        p.update()
        p.update()
    assert "job [" in t.getvalue() and "2/2" in t.getvalue()


# ---------------------------------------------------------------- review regressions

def _two_layers(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "m.npz"
    np.savez(path, a=rng.standard_normal((8, 8)), b=rng.standard_normal((8, 8)))
    return path


def test_export_checks_every_layer_before_writing(tmp_path, capsys):
    # Review item 1: layer a is 2:4, b is not; nothing may be written, even over an old export.
    m, p, out = _two_layers(tmp_path), tmp_path / "p.npz", tmp_path / "out"
    assert main(["prune", str(m), "-o", str(p), "--nm", "2:4", "--layers", "a"]) == 0
    args = ["export", str(p), "-o", str(out), "--format", "sparse24", "--layers", "a,b"]
    assert main(args) == 2
    assert "layer 'b': not 2:4 sparse" in capsys.readouterr().err and not out.exists()
    assert main(["export", str(p), "-o", str(out), "--format", "dense", "--layers", "a,b"]) == 0
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    assert main(args) == 2
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before
    assert sorted(f.name for f in tmp_path.iterdir()) == ["m.npz", "out", "p.npz"]


def test_export_refuses_colliding_layer_names(tmp_path, capsys):
    path = tmp_path / "c.npz"
    np.savez(path, **{"fc/1": np.ones((2, 4)), "fc_1": np.ones((2, 4))})
    assert main(["export", str(path), "-o", str(tmp_path / "o"), "--format", "dense"]) == 2
    assert "layers 'fc/1' and 'fc_1' would both be written" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_report_counts_the_quantised_weights(tmp_path, capsys):
    # Review item 9: nnz and MACx came from the float weights, storage from the int8 ones.
    w = np.zeros((4, 8))
    w[0, 0] = 1.0
    w[1:, :] = 1e-4  # 24 non-zeros that round to 0 at int8
    path = tmp_path / "w.npz"
    np.savez(path, L=w)
    assert main(["report", str(path), "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "q0" in out and "quantised" in out
    (row,) = json.loads((tmp_path / "r.json").read_text())
    assert row["nnz"] == 1 and row["float_nnz"] == 25 and row["quant_zeros"] == 24
    assert row["achieved"] == 1 - 1 / 32 and row["mac_reduction"] == 32.0
    assert row["bits_csr"] == 1 * (8 + 3) + 5 * 1  # the storage of that same single non-zero


def test_bad_paths_are_errors_not_tracebacks(tmp_path, capsys):
    m = _two_layers(tmp_path)
    (tmp_path / "afile").write_text("hello\n")
    cases = [
        (["export", str(m), "-o", str(tmp_path / "afile"), "--format", "dense"],
         "exists and is not a directory"),
        (["export", str(tmp_path / "afile"), "-o", str(tmp_path / "o"), "--format", "dense"],
         "is not an .npz archive"),
        (["prune", str(m), "-o", str(tmp_path)], "is a directory"),
        (["report", str(m), "--plot", str(tmp_path / "x.png"), "--sweep", str(tmp_path / "no.json")],
         "sweep file .*no.json does not exist"),
        (["report", str(tmp_path / "missing.npz")], "missing.npz does not exist"),
    ]
    for args, msg in cases:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("error: ") and re.search(msg, err), (args, err)
    assert (tmp_path / "afile").read_text() == "hello\n" and not (tmp_path / "o").exists()


def _arrays(recipe_text):
    return {"fc": np.ones((4, 8)), "__recipe__": np.array(recipe_text)}


@pytest.mark.parametrize("text, msg", [
    ("[1, 2]", "must be a JSON object, not list"),
    ("5", "must be a JSON object, not int"),
    ('{"sparsity": {"fc": "abc"}}', "layer 'fc' must be a number"),
    ('{"sparsity": {"fc": true}}', "layer 'fc' must be a number"),
    ('{"sparsity": {"fc": NaN}}', "finite number in [0, 1), not nan"),
    ('{"sparsity": {"fc": 5}}', "finite number in [0, 1), not 5"),
    ('{"sparsity": "half"}', "sparsity must be a number"),
])
def test_bad_recipe_is_a_value_error(text, msg):
    with pytest.raises(ValueError) as e:
        report_rows(_arrays(text), ["fc"])
    assert msg in str(e.value)


def test_good_recipe_is_read():
    rows = report_rows(_arrays('{"sparsity": {"fc": 0.25}}'), ["fc"])
    assert rows[0]["requested"] == 0.25


def test_cli_bad_recipe_exits_2(tmp_path, capsys):
    np.savez(tmp_path / "m.npz", **_arrays("[1, 2]"))
    assert main(["export", str(tmp_path / "m.npz"), "-o", str(tmp_path / "o"),
                 "--format", "csr"]) == 2
    assert "__recipe__ must be a JSON object" in capsys.readouterr().err


def test_report_json_has_no_infinity(tmp_path):
    np.savez(tmp_path / "z.npz", z=np.zeros((4, 8)))
    assert main(["report", str(tmp_path / "z.npz"), "--json", str(tmp_path / "r.json")]) == 0
    text = (tmp_path / "r.json").read_text()
    assert "Infinity" not in text
    rows = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    assert rows[0]["mac_reduction"] is None


# -- rough edges a new user hit (issue 8) ----------------------------------------------------

def test_prune_of_already_sparse_weights_reports_and_records_what_was_written(tmp_path, capsys):
    w = np.random.default_rng(2).standard_normal((10, 20))
    w[:, :14] = 0.0                                   # 70 % zeros before pruning
    np.savez(tmp_path / "m.npz", fc=w)
    assert main(["prune", str(tmp_path / "m.npz"), "-o", str(tmp_path / "p.npz"),
                 "--sparsity", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "requested 0.5000 achieved 0.7000 (the input was already 0.7000 sparse)" in out
    with np.load(tmp_path / "p.npz", allow_pickle=False) as z:
        recipe = json.loads(str(z["__recipe__"]))
        assert np.count_nonzero(z["fc"]) == 60
    assert recipe["sparsity"] == {"fc": 0.5} and recipe["input_sparsity"] == {"fc": 0.7}
    assert recipe["achieved"] == {"fc": 0.7} and recipe["previous"] is None
    # pruning the pruned file again keeps the first recipe as "previous"
    assert main(["prune", str(tmp_path / "p.npz"), "-o", str(tmp_path / "p2.npz"),
                 "--sparsity", "0.8"]) == 0
    with np.load(tmp_path / "p2.npz", allow_pickle=False) as z:
        again = json.loads(str(z["__recipe__"]))
    assert again["previous"]["sparsity"] == {"fc": 0.5} and again["achieved"] == {"fc": 0.8}


def test_prune_refuses_to_overwrite_its_input_without_force(tmp_path, model, capsys):
    before = model.read_bytes()
    assert main(["prune", str(model), "-o", str(model)]) == 2
    assert "is the input file" in capsys.readouterr().err and model.read_bytes() == before
    assert main(["prune", str(model), "-o", str(tmp_path / "." / model.name)]) == 2
    assert main(["prune", str(model), "-o", str(model), "--force"]) == 0
    with np.load(model, allow_pickle=False) as z:
        assert "__recipe__" in z.files


def test_write_errors_name_the_users_path_not_the_staging_folder(tmp_path, model, capsys,
                                                                  monkeypatch):
    from pruning import fileio

    def full(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(fileio.os, "fsync", full)
    dest = tmp_path / "out" / "p.npz"
    assert main(["prune", str(model), "-o", str(dest)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == f"error: {dest}: No space left on device" and "staging" not in err
    assert main(["export", str(model), "-o", str(tmp_path / "ex"), "--format", "rlc"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert str(tmp_path / "ex") in err and "staging" not in err


def test_report_on_an_exported_file_is_an_error(tmp_path, model, capsys):
    assert main(["export", str(model), "-o", str(tmp_path / "ex"), "--format", "csr"]) == 0
    capsys.readouterr()
    assert main(["report", str(tmp_path / "ex" / "fc0.weight.npz")]) == 2
    assert "no layer to report" in capsys.readouterr().err


def test_report_with_a_missing_sweep_is_an_error(tmp_path, model, capsys):
    assert main(["report", str(model), "--sweep", str(tmp_path / "missing.json")]) == 2
    assert "missing.json does not exist" in capsys.readouterr().err


def test_unknown_layer_error_does_not_list_the_recipe(tmp_path, model, capsys):
    pruned = tmp_path / "p.npz"
    assert main(["prune", str(model), "-o", str(pruned)]) == 0
    capsys.readouterr()
    assert main(["export", str(pruned), "-o", str(tmp_path / "o"), "--format", "csr",
                 "--layers", "nope"]) == 2
    err = capsys.readouterr().err
    assert "layer 'nope': not in the file (has fc0.weight, fc0.bias, conv.weight)" in err
    assert main(["export", str(pruned), "-o", str(tmp_path / "o"), "--format", "csr",
                 "--layers", "__recipe__"]) == 2


def test_skipped_arrays_are_named_in_one_line(tmp_path, model, capsys):
    assert main(["prune", str(model), "-o", str(tmp_path / "p.npz")]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "skipped 1 array(s)" in notes[0] and notes[0].endswith("fc0.bias")
