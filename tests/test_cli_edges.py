"""Command-line values and sizes: every bad argument of every subcommand is one line and exit status 2, every
number has a range, and a spec too large for the machine is refused with its memory estimate before any work."""

import copy
import re
from pathlib import Path

import pytest
from conftest import iris_mlp, one_error_line, write_spec

from harness.cli import main
from harness.core import resources
from harness.core.errors import SpecError
from harness.core.validate import parse_spec

IRIS = iris_mlp("edges", epochs=2)
EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"

# (case, argv after the command, fragments of the one line). SPEC is replaced by a valid spec file's path.
ARGUMENTS = [
    ("no command", [], ["COMMAND", "harness --help"]),
    ("unknown command", ["train"], ["invalid choice: 'train'"]),
    ("run without a spec", ["run"], ["error: run: the following arguments are required: spec"]),
    ("unknown option", ["run", "SPEC", "--colour", "red"], ["unrecognized arguments: --colour red"]),
    ("empty MLflow URI", ["run", "SPEC", "--mlflow", ""], ["error: --mlflow: expected sqlite:///", "received ''"]),
    ("jobs 0", ["run", "SPEC", "--jobs", "0"], ["error: --jobs: expected an integer in [1,", "received 0",
                                                 "(see harness run --help)"]),
    ("threads 1000", ["run", "SPEC", "--threads", "1000"], ["--threads", "received 1,000"]),
    ("threads a word", ["run", "SPEC", "--threads", "many"], ["--threads", "received 'many'"]),
    ("negative seed", ["run", "SPEC", "--seeds", "-1"], ["--seeds", "4,294,967,295", "received -1"]),
    ("seed 2**32", ["run", "SPEC", "--seeds", str(2 ** 32)], ["--seeds", "received 4,294,967,296"]),
    ("epochs 1e9", ["run", "SPEC", "--epochs", "1000000000"], ["--epochs", "100,000"]),
    ("epochs a float", ["run", "SPEC", "--epochs", "2.5"], ["--epochs", "received '2.5'"]),
    ("epochs of 5,000 digits", ["run", "SPEC", "--epochs", "9" * 5000], ["--epochs", "'..."]),
    ("a seed in Arabic digits", ["run", "SPEC", "--seeds", "\u0663"], ["--seeds", "received '\u0663'"]),
    ("epochs with an underscore", ["run", "SPEC", "--epochs", "1_0"], ["--epochs", "received '1_0'"]),
    ("a margin in Arabic digits", ["report", "DIR", "--margin", "test_accuracy=\u0660.\u0661"], ["--margin"]),
    ("retries negative", ["run", "SPEC", "--retries", "-1"], ["--retries", "received -1"]),
    ("unknown executor", ["run", "SPEC", "--executor", "slurm"], ["--executor", "'slurm'"]),
    ("margin without a name", ["report", "DIR", "--margin", "=0.1"], ["--margin", "'=0.1'"]),
    ("margin infinite", ["report", "DIR", "--margin", "test_accuracy=inf"], ["--margin", "finite"]),
    ("margin not a number", ["report", "DIR", "--margin", "test_accuracy=wide"], ["--margin", "NAME=NUMBER"]),
    ("target infinite", ["report", "DIR", "--target", "accuracy=inf"], ["--target", "finite"]),
    ("target NaN", ["run", "SPEC", "--target", "accuracy=nan"], ["--target", "finite"]),
    ("bench repeats 2", ["bench", "SPEC", "--repeats", "2"], ["--repeats", "[3,", "received 2"]),
    ("bench rounds 0", ["bench", "SPEC", "--rounds", "0"], ["--rounds", "received 0"]),
    ("bench sweep unclosed", ["bench", "SPEC", "--sweep", "batch_size=[1"], ["--sweep", "'[1'"]),
    ("bench sweep infinite", ["bench", "SPEC", "--sweep", "batch_size=.inf"], ["--sweep", "'.inf'"]),
    ("bench sweep no axis", ["bench", "SPEC", "--sweep", "=1,2"], ["--sweep", "AXIS=V1,V2"]),
    ("bench unknown mode", ["bench", "SPEC", "--modes", "turbo"], ["--modes", "'turbo'"]),
    ("bench matmul size 1", ["bench", "SPEC", "--matmul-size", "1"], ["--matmul-size", "received 1"]),
    ("parity steps 0", ["parity", "SPEC", "--steps", "0"], ["--steps", "received 0"]),
    ("parity dtype", ["parity", "SPEC", "--dtype", "float16"], ["--dtype", "'float16'"]),
    ("convert without --from", ["convert", "SPEC", "--weights", "w.pt", "--out", "x.weights.h5"],
     ["required: --from"]),
    ("compare nothing", ["compare"], ["compare:", "required: out"]),
    ("compare bad save", ["compare", "DIR", "--save", "table.xlsx"], ["--save", ".md or .csv", "table.xlsx"]),
    ("ray address with a newline", ["run", "SPEC", "--executor", "ray", "--address", "\n;rm -rf /"],
     ["--address", "HOST:PORT", "'\\n;rm -rf /'"]),
    ("address without ray", ["run", "SPEC", "--address", "head:6379"], ["--address", "needs --executor ray"]),
    ("a margin this task does not compare", ["run", "SPEC", "--margin", "test_mae=0.1", "--in-process"],
     ["analysis.margins.test_mae", "a classification task compares test_accuracy"]),
    ("a target this task does not record", ["run", "SPEC", "--target", "mae=0.1", "--in-process"],
     ["analysis.target.metric", "received 'mae'"]),
    ("a huge margin", ["run", "SPEC", "--margin", "test_accuracy=1e307"], ["test_accuracy", "1000000"]),
    ("a folder as the MLflow database", ["run", "SPEC", "--mlflow", "sqlite:////tmp"], ["--mlflow", "a folder"]),
]


@pytest.mark.parametrize("case,argv,expected", ARGUMENTS, ids=[case[0] for case in ARGUMENTS])
def test_a_bad_argument_is_one_line_and_status_2(tmp_path, capsys, case, argv, expected):
    spec = str(write_spec(tmp_path, IRIS))
    argv = [spec if item == "SPEC" else str(tmp_path) if item == "DIR" else item for item in argv]
    argv += ["--out", str(tmp_path / "out")] if argv and argv[0] == "run" else []
    assert main(argv) == 2
    line = one_error_line(capsys)
    for fragment in expected:
        assert fragment in line, line


def test_a_help_option_still_prints_the_help(capsys):
    assert main(["run", "--help"]) == 0 and "--allow-large" in capsys.readouterr().out


def _with_units(units: int) -> dict:
    spec = copy.deepcopy(IRIS)
    spec["model"]["layers"][0]["units"] = units
    return spec


@pytest.mark.parametrize("command", [["validate", "SPEC"], ["run", "SPEC", "--in-process", "--out", "OUT"],
                                     ["parity", "SPEC", "--out", "OUT"], ["bench", "SPEC", "--out", "OUT"]],
                         ids=lambda argv: argv[0])
def test_a_model_too_large_for_the_machine_is_refused_with_its_estimate(tmp_path, capsys, command):
    path = write_spec(tmp_path, _with_units(1_000_000_000))  # 8 billion parameters: 149 GiB with Adam
    argv = [str(path) if item == "SPEC" else str(tmp_path / "out") if item == "OUT" else item for item in command]
    assert main(argv) == 2
    line = one_error_line(capsys)
    assert line.startswith("error: model: estimated peak memory")
    assert "8,000,000,003 parameters" in line and "--allow-large" in line
    assert not (tmp_path / "out").exists()


def test_synthetic_data_too_large_is_refused_before_it_is_generated(tmp_path, capsys):
    spec = {**IRIS, "data": {"dataset": "blobs", "n_samples": 10_000_000, "n_features": 100_000, "n_classes": 3}}
    spec["model"] = {**spec["model"], "input_shape": [100_000]}
    assert main(["validate", str(write_spec(tmp_path, spec))]) == 2
    line = one_error_line(capsys)
    assert line.startswith("error: data: estimated peak memory") and "10,000,000 samples" in line


def test_embedding_inputs_must_be_ids_below_input_dim(tmp_path, capsys):
    spec = {**IRIS, "data": {"dataset": "iris", "standardize": False},
            "model": {"input_shape": [4], "layers": [{"type": "embedding", "input_dim": 5, "output_dim": 2},
                                                     {"type": "flatten"},
                                                     {"type": "dense", "units": 3, "activation": "softmax"}]}}
    assert main(["validate", str(write_spec(tmp_path, spec))]) == 2
    assert "integer ids in [0, 5)" in one_error_line(capsys)


def test_allow_large_lets_validate_through(tmp_path, capsys):
    path = write_spec(tmp_path, _with_units(1_000_000_000))
    assert main(["validate", str(path), "--allow-large"]) == 0
    assert "memory: estimated peak memory" in capsys.readouterr().out


@pytest.mark.parametrize("case,change,grows", [
    ("wider", lambda s: s["model"]["layers"][0].update(units=512), "model_bytes"),
    ("adam holds two slots more than sgd", lambda s: s.update(optimizer={"type": "sgd"}), None),
    ("full batch", lambda s: s["training"].update(batch_size="full"), "activation_bytes"),
    ("more samples", lambda s: s.update(data={"dataset": "blobs", "n_samples": 100_000, "n_features": 4}),
     "data_bytes"),
])
def test_the_estimate_follows_the_spec(case, change, grows):
    base = resources.estimate(parse_spec(IRIS))
    spec = copy.deepcopy(IRIS)
    change(spec)
    changed = resources.estimate(parse_spec(spec))
    if grows:
        assert getattr(changed, grows) > getattr(base, grows)
        assert changed.peak_bytes > base.peak_bytes
    else:  # sgd without momentum keeps no optimizer state: weights, gradients and a copy only
        assert changed.model_bytes == base.parameters * 4 * 3 < base.model_bytes == base.parameters * 4 * 5


def test_the_estimate_counts_parallel_workers():
    spec = parse_spec(IRIS)
    one, four = resources.estimate(spec), resources.estimate(spec, parallel=4)
    assert four.peak_bytes - one.peak_bytes == 3 * (one.peak_bytes - one.data_bytes * resources.DRIVER_DATA_COPIES
                                                    - one.parameters * 4)


def test_a_limit_below_the_estimate_refuses_and_names_it():
    with pytest.raises(SpecError) as refused:
        resources.check(parse_spec(IRIS), limit=10 * 1024 ** 2)
    assert str(refused.value).split(": ", 1)[1].startswith("estimated peak memory 1.00 GiB")
    assert "exceeds the 10.0 MiB of memory available" in str(refused.value)
    assert resources.check(parse_spec(IRIS), limit=10 * 1024 ** 2, allow_large=True).peak_bytes > 10 * 1024 ** 2


# ---- the command line's own surface: --version, defaults shown once, sweep options refused not dropped ----

def test_version(capsys):
    from harness import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"harness {__version__}"


@pytest.mark.parametrize("command", ["run", "bench", "parity", "mlflow"])
def test_help_shows_each_default_once(command, capsys):
    assert main([command, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: None)" not in text and "(default: False)" not in text
    for option in re.split(r" (?=--[a-z])", text.split("options:", 1)[1]):
        assert len(re.findall(r"\bdefault\b", option)) <= 1, option


@pytest.mark.parametrize("option, expected", [
    (["--in-process"], "error: --in-process: is for one experiment"),
    (["--mlflow", "sqlite:///m.db"], "error: --mlflow: logs one experiment's results folder"),
    (["--no-tensorboard"], "error: --no-tensorboard: a sweep writes no TensorBoard files"),
])
def test_sweep_path_refuses_what_it_cannot_honour(tmp_path, capsys, option, expected):
    assert main(["run", str(EXPERIMENTS / "mlp_mnist1d.yaml"), "--executor", "ray", "--out", str(tmp_path / "o"),
                 *option]) == 2
    assert capsys.readouterr().err.startswith(expected)
    assert not (tmp_path / "o").exists()
