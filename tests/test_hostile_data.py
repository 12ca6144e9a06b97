"""Hostile data files and splits: every bad csv or npz, every split that leaves a part empty, gets one line
naming the file (or field), the column or array and the first bad row or index; exit status 2; nothing large is
allocated before the file's declared sizes are checked. Legitimate but unusual data runs and says what it did."""

import io
import pickle
import zipfile

import numpy as np
import pytest
from conftest import iris_mlp, one_error_line, write_spec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.core import data, data_files, datasets
from harness.core.errors import SpecError
from harness.core.validate import parse_spec

GOOD_ROWS = "".join(f"{i},{i % 7},{i % 2}\n" for i in range(20))  # a, b and a label y in {0, 1}


def file_spec(path, dataset: str, input_shape=(2,), units: int = 2, **data_fields) -> dict:
    """A raw spec reading `path`: a dense softmax classifier of `units` classes (1 unit: a linear regression)."""
    activation, loss = ("softmax", "categorical_crossentropy") if units > 1 else ("linear", "mse")
    fields = {"dataset": dataset, "path": str(path), **({"target": "y"} if dataset == "csv" else {}), **data_fields}
    return {"name": "hostile", "data": fields, "loss": loss, "optimizer": "sgd",
            "model": {"input_shape": list(input_shape), "layers": [{"type": "dense", "units": units,
                                                                    "activation": activation}]}}


def assert_refused(tmp_path, capsys, spec: dict, expected: list[str]) -> str:
    """The same one line from the CLI (status 2) and from the API (SpecError)."""
    assert main(["validate", str(write_spec(tmp_path, spec))]) == 2
    line = one_error_line(capsys)
    for fragment in expected:
        assert fragment in line, line
    with pytest.raises(SpecError) as raised:
        data.prepare(parse_spec(spec))
    assert f"error: {raised.value}" == line
    return line


def sparse_file(path, size: int):
    """A file of `size` bytes that takes no disk space: the size check must refuse it before reading."""
    with open(path, "wb") as handle:
        handle.truncate(size)
    return path


# ---------------------------------------------------------------------------------------------- csv files

# (case, file content, fragments of the one line)
BAD_CSV = [
    ("text feature column", "a,b,y\n1,x,0\n2,z,1\n", ["data.path: d.csv", "numeric", "column 'b'", "data row 1: 'x'"]),
    ("text after 20 numeric rows", "a,b,y\n" + GOOD_ROWS + "1,zz,0\n", ["column 'b'", "data row 21: 'zz'"]),
    ("NaN feature", "a,b,y\n1,2,0\n1,,1\n", ["finite numbers", "NaN (an empty or missing value)", "column 'b'",
                                             "data row 2"]),
    ("inf feature", "a,b,y\n1,2,0\n-inf,2,1\n", ["finite numbers", "-inf", "column 'a'", "data row 2"]),
    ("overflowing feature", "a,b,y\n1e400,2,0\n", ["finite numbers", "inf in column 'a'"]),
    ("NaN label", "a,b,y\n1,2,0\n1,2,1\n1,2,\n", ["label column 'y'", "NaN", "data row 3"]),
    ("inf label", "a,b,y\n1,2,inf\n", ["label column 'y'", "inf in data row 1"]),
    ("missing class name", "a,b,y\n1,2,cat\n1,2,\n", ["label column 'y'", "an empty value in data row 2"]),
    ("short row", "a,b,y\n1,2,0\n1,2\n", ["label column 'y'", "NaN", "data row 2"]),
    ("header only", "a,b,y\n", ["d.csv has no data rows"]),
    ("empty file", "", ["d.csv is empty"]),
    ("blank lines only", "\n\n\n", ["d.csv is empty"]),
    ("long row", "a,b,y\n1,2,0\n1,2,0,4\n", ["one field per header column", "Expected 3 fields in line 3, saw 4"]),
    ("long first row", "a,b,y\n1,2,0,4\n", ["one field per header column", "first data row with more fields"]),
    ("unclosed quote", 'a,b,y\n"1,2,0\n', ["one field per header column", "EOF inside string"]),
    ("target column twice", "a,y,y\n1,2,0\n", ["column names must be unique", "'y' 2 times"]),
    ("feature column twice", "a,a,b,y\n1,2,3,0\n", ["column names must be unique", "'a' 2 times"]),
    ("no target column", "a,b,c\n1,2,0\n", ["data.target", "'y' is not in d.csv", "['a', 'b', 'c']"]),
    ("only the target", "y\n0\n1\n", ["feature columns besides the label column 'y'"]),
    ("latin-1", "a,b,y\n1,2,caf\xe9\n".encode("latin-1"), ["not UTF-8", "byte 0xe9 at offset 13"]),
    ("UTF-16", "a,b,y\n1,2,0\n".encode("utf-16"), ["UTF-16"]),
    ("NUL byte", b"a,b,y\n1,2\x00,0\n", ["binary, not text", "offset 9"]),
    ("float labels", "a,b,y\n" + "1,2,1.5\n1,2,0\n" * 10, ["classification labels must be integers >= 0", "1.5"]),
    ("negative labels", "a,b,y\n" + "1,2,-1\n1,2,0\n" * 10, ["integers >= 0", "-1"]),
    ("labels beyond the output", "a,b,y\n" + "1,2,2\n1,2,0\n" * 10, ["3 classes", "outputs 2 units"]),
]


@pytest.mark.parametrize("case,content,expected", BAD_CSV, ids=[case[0] for case in BAD_CSV])
def test_a_bad_csv_gets_one_line(tmp_path, capsys, case, content, expected):
    path = tmp_path / "d.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert_refused(tmp_path, capsys, file_spec(path, "csv"), expected)


# (case, file content, number of classes the labels make)
ODD_BUT_FINE_CSV = [
    ("class names", "a,b,y\n" + "1,2,cat\n2,3,dog\n" * 10, 2),
    ("bool feature", "a,b,y\n" + "True,1,0\nFalse,2,1\n" * 10, 2),
    ("byte-order mark and blank lines", "\ufeffa,b,y\n\n" + GOOD_ROWS + "\n\n", 2),
    ("quoted fields, CRLF line ends", 'a,"b",y\r\n' + GOOD_ROWS.replace("\n", "\r\n"), 2),
]


@pytest.mark.parametrize("case,content,classes", ODD_BUT_FINE_CSV, ids=[case[0] for case in ODD_BUT_FINE_CSV])
def test_unusual_but_valid_csv_files_load(tmp_path, case, content, classes):
    path = tmp_path / "d.csv"
    path.write_text(content, encoding="utf-8")
    prepared = data.prepare(parse_spec(file_spec(path, "csv", units=classes)))
    assert prepared.n_train + len(prepared.x_val) + len(prepared.x_test) == 20
    assert prepared.x_train.dtype == np.float32 and set(np.unique(prepared.y_train)) <= set(range(classes))


def test_csv_is_read_in_chunks_with_rows_counted_across_them(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(data_files, "CSV_CHUNK_CELLS", 6)  # two rows of three values per chunk
    path = tmp_path / "d.csv"
    path.write_text("a,b,y\n" + GOOD_ROWS + "1,,0\n")
    assert_refused(tmp_path, capsys, file_spec(path, "csv"), ["NaN", "column 'b'", "data row 21"])
    path.write_text("a,b,y\n" + GOOD_ROWS)
    assert datasets.load_raw(parse_spec(file_spec(path, "csv")).data).x.shape == (20, 2)


# ---------------------------------------------------------------------------------------------- npz files

X = np.arange(40.0).reshape(20, 2)
Y = np.arange(20) % 2


def savez(**arrays):
    def write(path):
        np.savez(path, **arrays)
    return write


def npz_of_members(**members: bytes):
    """An archive written member by member, deflated: headers and data that np.savez would never write."""
    def write(path):
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, content in members.items():
                archive.writestr(f"{name}.npy", content)
    return write


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def declared_only(shape, descr: str = "<f8") -> bytes:
    """A .npy header declaring `shape`, followed by a kilobyte of zeros: what a zip bomb's member starts with."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + bytes(1024)


def truncated(fraction: float):
    def write(path):
        np.savez(path, x=X, y=Y)
        content = path.read_bytes()
        path.write_bytes(content[:int(len(content) * fraction)])
    return write


def raw_file(content: bytes):
    def write(path):
        path.write_bytes(content)
    return write


# (case, writer of d.npz, fragments of the one line)
BAD_NPZ = [
    ("object array", savez(x=np.array([{"a": 1}] * 20, dtype=object), y=Y),
     ["array 'x' holds an object array (pickled data is never loaded)"]),
    ("complex features", savez(x=X + 1j, y=Y), ["'x' must hold bool, integer or real float", "complex128",
                                                "imaginary part"]),
    ("text labels", savez(x=X, y=Y.astype(str)), ["'y' must hold bool", "<U21 (text)"]),
    ("datetimes", savez(x=np.zeros((20, 2), "datetime64[s]"), y=Y), ["datetime64[s] (datetimes)"]),
    ("structured records", savez(x=np.zeros(20, [("a", "f4"), ("b", "f4")]), y=Y), ["structured records"]),
    ("lengths differ", savez(x=X, y=Y[:-1]), ["x and y must hold the same number of samples", "20 and 19"]),
    ("test lengths differ", savez(x=X, y=Y, x_test=X[:5], y_test=Y[:4]), ["x_test and y_test", "5 and 4"]),
    ("x_test without y_test", savez(x=X, y=Y, x_test=X), ["x_test and y_test come together",
                                                          "x_test without y_test"]),
    ("y_test without x_test", savez(x=X, y=Y, y_test=Y), ["y_test without x_test"]),
    ("x_test of another shape", savez(x=X, y=Y, x_test=np.zeros((5, 3)), y_test=Y[:5]),
     ["x_test's samples must have the shape of x's, (2,); received (3,)"]),
    ("0-d features", savez(x=np.float64(1.0), y=Y), ["'x' must hold one sample per row", "0-d array"]),
    ("empty arrays", savez(x=np.zeros((0, 2)), y=np.zeros(0)), ["'x' must not be empty", "(0, 2)"]),
    ("NaN feature", savez(x=np.where(X == 7, np.nan, X), y=Y), ["'x' must hold finite numbers", "NaN at index (3, 1)"]),
    ("inf label", savez(x=X, y=np.where(Y == 1, np.inf, Y)), ["'y' must hold finite numbers", "inf at index (1,)"]),
    ("missing y", savez(x=X), ["must hold arrays 'x' and 'y'", "missing ['y']"]),
    ("truncated archive", truncated(0.6), ["readable .npz archive", "damaged"]),
    ("truncated member", npz_of_members(x=npy_bytes(X)[:-50], y=npy_bytes(Y)), ["damaged", "EOF"]),
    ("a 1e12-element header", npz_of_members(x=declared_only((10 ** 12,)), y=npy_bytes(Y)),
     ["its arrays would take 7,450.6 GiB once loaded", "at most 2 GiB"]),
    ("a member that is not .npy", npz_of_members(x=b"hello" * 100, y=npy_bytes(Y)), ["'x' must be a .npy array"]),
    ("a single .npy file", raw_file(npy_bytes(X)), ["must be an .npz archive", "a single .npy array"]),
    ("a pickle", raw_file(pickle.dumps({"x": X, "y": Y})), ["must be an .npz archive", "another kind of file"]),
]


@pytest.mark.parametrize("case,write,expected", BAD_NPZ, ids=[case[0] for case in BAD_NPZ])
def test_a_bad_npz_gets_one_line(tmp_path, capsys, case, write, expected):
    path = tmp_path / "d.npz"
    write(path)
    assert_refused(tmp_path, capsys, file_spec(path, "npz"), ["data.path: d.npz", *expected])


def test_arrays_are_not_read_while_their_headers_are_checked(tmp_path, monkeypatch, capsys):
    """The 1e12-element header is refused from its 128 header bytes: the data reader is never reached."""
    def never(*args, **kwargs):
        raise AssertionError("an array was read before its declared size was checked")

    monkeypatch.setattr(np.lib.format, "read_array", never)
    path = tmp_path / "d.npz"
    npz_of_members(x=declared_only((10 ** 6, 10 ** 6)), y=npy_bytes(Y))(path)
    assert_refused(tmp_path, capsys, file_spec(path, "npz"), ["would take"])


def test_a_split_without_the_last_class_keeps_the_model_width(tmp_path):
    """Classes are counted over every split: a test set of classes 0 and 1 alone is still a 3-class problem."""
    path = tmp_path / "d.npz"
    np.savez(path, x=X, y=np.arange(20) % 3, x_test=X[:4], y_test=np.array([0, 1, 0, 1]))
    prepared = data.prepare(parse_spec(file_spec(path, "npz", units=3)))
    assert prepared.y_test.tolist() == [0, 1, 0, 1] and len(prepared.x_test) == 4


@pytest.mark.parametrize("dataset", ["csv", "npz"])
def test_a_20_gb_data_file_is_refused_before_it_is_read(tmp_path, capsys, dataset):
    """A sparse file: a reader that tried would take minutes and all the memory. (The CLI may refuse it even
    earlier, on its memory estimate from the file size: one line either way.)"""
    path = sparse_file(tmp_path / f"d.{dataset}", 20 * 10 ** 9)
    assert main(["validate", str(write_spec(tmp_path, file_spec(path, dataset)))]) == 2
    one_error_line(capsys)
    with pytest.raises(SpecError, match=rf"^data.path: d.{dataset} is 18.6 GiB; a data file may be at most 2.0 GiB$"):
        data.prepare(parse_spec(file_spec(path, dataset)))


# -------------------------------------------------------------------------------------------------- splits

def iris(**data_fields) -> dict:
    spec = iris_mlp("splits", epochs=1)
    spec["data"] = {"dataset": "iris", **data_fields}
    return spec


def sunspots(**data_fields) -> dict:
    return {"name": "series", "data": {"dataset": "sunspots", **data_fields}, "loss": "mse", "optimizer": "sgd",
            "model": {"input_shape": [10, 1], "layers": [{"type": "flatten"}, {"type": "dense", "units": 1}]}}


# (case, raw spec, fragments of the one line); iris has 150 samples, 120 left after the default test split
BAD_SPLITS = [
    ("no test sample", iris(test_split=0.001), ["data.test_split", "at least one test sample",
                                                "received 0.001, which holds out 0 of 150 samples",
                                                "use at least 0.00667"]),
    ("no training sample after the test split", iris(test_split=0.999), ["data.test_split",
                                                                        "all 150 samples"]),
    ("no validation sample", iris(validation_split=0.001), ["data.validation_split", "or be 0 for none",
                                                            "0 of 120 samples"]),
    ("no training sample", iris(validation_split=0.999), ["data.validation_split", "at least one sample for "
                                                          "training", "all 120 samples"]),
    ("no validation window", sunspots(validation_split=0.001), ["data.validation_split", "0 of the 239 windows"]),
]


@pytest.mark.parametrize("case,spec,expected", BAD_SPLITS, ids=[case[0] for case in BAD_SPLITS])
def test_every_split_named_gets_a_sample(tmp_path, capsys, case, spec, expected):
    assert_refused(tmp_path, capsys, spec, expected)


# (case, raw spec, the notes data.notes returns)
NOTES = [
    ("a plain spec", iris(), []),
    ("batch larger than the training data", {**iris(test_split=0.8), "training": {"batch_size": 64}},
     ["batch_size 64 is larger than the 27 training samples: each epoch is one batch of 27"]),
    ("no validation split", iris(validation_split=0.0),
     ["validation_split 0: no validation split, the val figures are left empty"]),
]


@pytest.mark.parametrize("case,spec,expected", NOTES, ids=[case[0] for case in NOTES])
def test_unusual_specs_run_and_say_what_they_did(tmp_path, capsys, case, spec, expected):
    assert main(["validate", str(write_spec(tmp_path, spec))]) == 0
    capsys.readouterr()
    parsed = parse_spec(spec)
    assert data.notes(parsed, data.prepare(parsed)) == expected


def test_an_unused_test_split_is_noted(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=X, y=Y, x_test=X[:5], y_test=Y[:5])
    spec = parse_spec({**file_spec(path, "npz", test_split=0.3), "training": {"batch_size": 8}})
    assert data.notes(spec, data.prepare(spec)) == [
        "test_split 0.3 is not used: dataset 'npz' comes with its own test set of 5 samples"]


# ----------------------------------------------------------------------------------------- random bytes

def _validate_once(tmp_path, capsys, path, content: bytes, dataset: str) -> None:
    path.write_bytes(content)
    status = main(["validate", str(write_spec(tmp_path, file_spec(path, dataset, input_shape=(1,), units=1)))])
    assert status in (0, 2)
    if status == 2:
        one_error_line(capsys)
    else:
        captured = capsys.readouterr()
        assert "hostile: valid" in captured.out and captured.err == ""


CSV_LIKE = st.text(alphabet=list("ya,\n\r\"0159.-e inftNA\u00e9"), max_size=80).map(str.encode)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.binary(max_size=200), CSV_LIKE))
def test_random_bytes_as_a_csv_get_at_most_one_line(tmp_path, capsys, content):
    _validate_once(tmp_path, capsys, tmp_path / "d.csv", content, "csv")


def _valid_npz() -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=np.arange(10.0).reshape(10, 1), y=np.arange(10.0), x_test=np.ones((3, 1)),
                        y_test=np.zeros(3))
    return buffer.getvalue()


@st.composite
def damaged_npz(draw) -> bytes:
    """A valid archive with a few bytes replaced, then perhaps cut short."""
    content = bytearray(_valid_npz())
    for _ in range(draw(st.integers(1, 4))):
        content[draw(st.integers(0, len(content) - 1))] = draw(st.integers(0, 255))
    return bytes(content[:draw(st.integers(0, len(content)))] if draw(st.booleans()) else content)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.binary(max_size=300), st.binary(max_size=300).map(b"PK\x03\x04".__add__),
                         damaged_npz()))
def test_random_bytes_as_an_npz_get_at_most_one_line(tmp_path, capsys, content):
    _validate_once(tmp_path, capsys, tmp_path / "d.npz", content, "npz")
