"""A .pt2 file (torch.export.save) read without running anything in it: `read_archive` -> (Program, parameters).

What the archive holds (torch 2.13, torch/export/pt2_archive/_package.py): a zip under one root folder with
archive_format ("pt2"), models/model.json (the graph and its signature), data/weights/ and data/constants/ (a JSON
config naming, per tensor, its payload file, dtype, sizes, strides and use_pickle; the payload raw bytes or a
pickle) and data/sample_inputs/model.pt (a torch.save pickle). torch.export.load is never called: it unpickles
pickled weights and constants with torch.load(weights_only=False), custom objects with torch._C._pickle_load_obj
and opaque ones with pickle.loads (_package.py, _load_state_dict and _load_constants), and retries the sample
inputs with weights_only=False when weights_only=True fails (torch/_export/serde/serialize.py,
deserialize_torch_artifact). Here the declared sizes are checked first, the JSON goes through harness.core.guard,
raw tensors are read by numpy from their declared layout, the sample inputs are checked with
torch.load(weights_only=True), and anything else (a pickled tensor, a custom object, compiled code, an unknown
member, an op outside the table) is refused unread. Every failure is one SpecError line.
"""

import io
import re
import warnings
import zipfile
from math import prod

import numpy as np
import torch

from harness.core import guard
from harness.core.errors import SpecError, first_line
from harness.core.spec_layers import as_name, brief
from models_torch.import_graph import Node, Program, Ref
from models_torch.import_ops import SUPPORTED, TARGETS

MAX_ELEMENTS = 2 ** 28  # of any one tensor of the program (1 GiB of float32)
PLAIN = {"as_int": int, "as_ints": int, "as_float": float, "as_floats": float, "as_bool": bool, "as_bools": bool,
         "as_string": str}
ZIP_MAGIC = b"PK\x03\x04"
MAX_MEMBERS = 65536
KNOWN = {"archive_format", "archive_version", "byteorder", ".data/version", ".data/serialization_id",
         "models/model.json", "data/weights/model_weights_config.json", "data/constants/model_constants_config.json",
         "data/sample_inputs/model.pt"}
PAYLOAD = re.compile(r"data/weights/weight_\d+|data/constants/tensor_\d+|extra/[\w.-]+")
DTYPES = {7: ("<f4", torch.float32), 5: ("<i8", torch.int64)}  # torch._export.serde.schema.ScalarType codes
SAVE_INSTEAD = ("save the program instead: torch.export.save(torch.export.export(model.eval(), (example,)), "
                "\"model.pt2\")")
DAMAGE = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError)


def _magic(source) -> bytes:
    if isinstance(source, io.BytesIO):
        return source.getvalue()[:4]
    with open(source, "rb") as handle:
        return handle.read(4)


def need(mapping, key: str, kind, archive):
    value = mapping.get(key) if isinstance(mapping, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        archive.refuse(f"is not a torch.export program: {key!r} must be a {getattr(kind, '__name__', kind)}")
    return value


def one_key(mapping, archive) -> tuple:
    if not isinstance(mapping, dict) or len(mapping) != 1:
        archive.refuse(f"is not a torch.export program: expected a one-key object; received {brief(mapping)}")
    return next(iter(mapping.items()))


def int_list(items, archive) -> tuple:
    """[{"as_int": 3}, ...] -> (3, ...); a symbolic size is refused."""
    values = [one_key(item, archive) for item in need({"sizes": items}, "sizes", list, archive)]
    if any(kind != "as_int" or not isinstance(v, int) or isinstance(v, bool) or v < 0 for kind, v in values):
        archive.refuse("has symbolic sizes (dynamic_shapes): export it with a static example batch instead")
    return tuple(value for _, value in values)


class Archive:
    """A .pt2 zip archive whose member names and declared sizes are checked before any member is read."""

    def __init__(self, source, name: str, field: str):
        self.name, self.field = name, field
        magic = _magic(source)
        if magic != ZIP_MAGIC:
            received = "a pickle" if magic.startswith(b"\x80") else "another kind of file"
            self.refuse(f"must be a zip archive written by torch.export.save; received {received} (never loaded); "
                        f"{SAVE_INSTEAD}")
        try:
            self.zip = zipfile.ZipFile(source)
            infos = self.zip.infolist()
        except DAMAGE as error:
            self.refuse(f"must be a readable zip archive; received a damaged one ({first_line(error)})")
        if len(infos) > MAX_MEMBERS or sum(info.file_size for info in infos) > guard.LIMITS["weights"]:
            self.refuse(f"declares {len(infos):,} members of {sum(i.file_size for i in infos):,} bytes unpacked; "
                        f"at most {MAX_MEMBERS:,} members of {guard.LIMITS['weights']:,} bytes are allowed")
        self.root = infos[0].filename.split("/")[0] if infos else ""
        self.members = {info.filename.partition("/")[2] for info in infos}
        if any(name.endswith("data.pkl") for name in self.members):
            self.refuse(f"is a torch.save archive (a pickle), not a torch.export program: never unpickled; "
                        f"{SAVE_INSTEAD}")
        for info in infos:
            head, _, member = info.filename.partition("/")
            if head != self.root or not (member in KNOWN or PAYLOAD.fullmatch(member)):
                self.refuse(f"holds {brief(info.filename)}, which is not a plain-tensor member of a torch.export "
                            f"program (a pickled object, custom class or compiled code): refused unread")

    def refuse(self, message: str):
        raise SpecError(self.field, f"{self.name} {message}")

    def read(self, member: str) -> bytes:
        if member not in self.members:
            self.refuse(f"lacks {member}: it is not a complete torch.export program; {SAVE_INSTEAD}")
        try:
            return self.zip.read(f"{self.root}/{member}")
        except DAMAGE as error:
            self.refuse(f"is damaged: {member} cannot be read ({first_line(error)})")

    def json(self, member: str):
        label = f"{self.name}:{member}"
        return guard.parse_json(guard.decode_text(self.read(member), label, self.field), label, self.field)


def _payload(archive: Archive, directory: str, key: str, entry) -> torch.Tensor:
    """One tensor of a weights/constants config, from raw little-endian bytes and its declared strided layout."""
    if not isinstance(entry, dict) or entry.get("use_pickle") is not False:
        archive.refuse(f"holds {brief(key)} as a pickle (a tensor subclass or custom object): refused unread")
    meta, path = need(entry, "tensor_meta", dict, archive), need(entry, "path_name", str, archive)
    if meta.get("dtype") not in DTYPES or meta.get("layout") != 7 or not PAYLOAD.fullmatch(directory + path):
        archive.refuse(f"holds tensor {brief(key)}, which is not a dense float32 tensor (nor an int64 counter): "
                       f"export the float32 model (model.float())")
    sizes, strides = int_list(meta.get("sizes"), archive), int_list(meta.get("strides"), archive)
    offset = int_list([meta.get("storage_offset")], archive)[0]
    flat = np.frombuffer(archive.read(directory + path), dtype=np.uint8)
    numpy_type, torch_type = DTYPES[meta["dtype"]]
    itemsize = np.dtype(numpy_type).itemsize
    count = prod(sizes)
    reach = offset + sum((size - 1) * stride for size, stride in zip(sizes, strides)) + 1
    if len(sizes) != len(strides) or flat.size % itemsize or count > MAX_ELEMENTS or \
            (count and reach > flat.size // itemsize):
        archive.refuse(f"holds tensor {brief(key)}, whose declared layout does not fit its {flat.size:,} bytes")
    data = flat.view(numpy_type)
    array = np.lib.stride_tricks.as_strided(data[offset:], sizes, [s * itemsize for s in strides]) if count \
        else np.zeros(sizes, numpy_type)
    tensor = torch.from_numpy(np.array(array, dtype=numpy_type)).to(torch_type)
    return tensor.requires_grad_(bool(meta.get("requires_grad"))) if torch_type.is_floating_point else tensor


def _payloads(archive: Archive, directory: str, config: str) -> dict:
    entries = need(archive.json(directory + config), "config", dict, archive)
    return {key: _payload(archive, directory, key, entry) for key, entry in entries.items()}


def _where(metadata) -> str:
    """'module conv1 (Conv1d)': the innermost module of a node's nn_module_stack."""
    stack = metadata.get("nn_module_stack") if isinstance(metadata, dict) else None
    if not isinstance(stack, str) or not stack:
        return "the forward"
    _, path, kind = (stack.split(";")[-1].split(",") + ["", ""])[:3]
    kind = kind.rsplit(".", 1)[-1]
    return as_name(f"module {path} ({kind})" if path else f"the forward of {kind}")


def _argument(raw, archive):
    kind, value = one_key(raw, archive)
    if kind == "as_tensor":
        return Ref(need(value, "name", str, archive))
    if kind == "as_tensors":
        return [Ref(need(item, "name", str, archive)) for item in need(raw, kind, list, archive)]
    special = {("as_none", True): None, ("as_scalar_type", 7): torch.float32, ("as_scalar_type", 5): torch.int64,
               ("as_layout", 7): torch.strided}
    if kind in ("as_none", "as_scalar_type", "as_layout") and (kind, value) in special:
        return special[kind, value]
    if kind == "as_device":
        return torch.device("cpu")
    items = value if kind.endswith("s") else [value]
    if kind in PLAIN and isinstance(items, list) and \
            all(type(v) is PLAIN[kind] or (PLAIN[kind] is float and type(v) is int) for v in items):
        return value
    archive.refuse("has symbolic sizes (dynamic_shapes): export it with a static example batch instead" if "sym" in
                   kind else f"holds an argument of kind {brief(kind)}: not a plain tensor program")


def _node(raw, archive) -> Node:
    target, where = need(raw, "target", str, archive), _where(raw.get("metadata") if isinstance(raw, dict) else None)
    op = target.removeprefix("torch.ops.")
    if op not in TARGETS:
        archive.refuse(f"holds op {brief(target)} (in {where}), which has no spec translation; supported: "
                       f"{SUPPORTED}")
    args = {need(item, "name", str, archive): _argument(need(item, "arg", dict, archive), archive)
            for item in need(raw, "inputs", list, archive)}
    outputs = [value.get("name", "") if kind == "as_tensor" and isinstance(value, dict) else ""
               for kind, value in (one_key(item, archive) for item in need(raw, "outputs", list, archive))]
    return Node(op, args, outputs, where)


def _signature(signature, tensors: dict, archive) -> tuple:
    """(placeholder name -> tensor, the input's name, the output's name, parameters counted)."""
    placeholders, inputs, params = {}, [], 0
    for raw in need(signature, "input_specs", list, archive):
        kind, spec = one_key(raw, archive)
        arg = need(spec, "arg", dict, archive)
        if kind == "user_input":
            inputs.append(need(arg, "as_tensor", dict, archive).get("name"))
        elif kind in ("parameter", "buffer", "tensor_constant") and spec.get(f"{kind}_name") in tensors:
            placeholders[need(arg, "name", str, archive)] = tensor = tensors[spec[f"{kind}_name"]]
            params += tensor.numel() if kind == "parameter" else 0
        else:
            archive.refuse(f"has an input of kind {brief(kind)} that is not a stored tensor: not a plain program")
    outputs = need(signature, "output_specs", list, archive)
    kind, spec = one_key(outputs[0], archive) if len(outputs) == 1 else ("", None)
    if len(inputs) != 1 or kind != "user_output":
        archive.refuse("must take one input tensor and return one tensor")
    return placeholders, inputs[0], need(need(spec, "arg", dict, archive), "as_tensor", dict, archive).get("name"), \
        params


def read_program(document, tensors: dict, archive) -> tuple:
    """(Program, parameters counted) of a parsed models/model.json; tensors: state-dict name -> tensor.
    `archive.refuse(message)` raises the one-line error."""
    module = need(document, "graph_module", dict, archive)
    graph, signature = need(module, "graph", dict, archive), need(module, "signature", dict, archive)
    namespaces = set(need(document, "opset_version", dict, archive)) - {"aten"}
    if namespaces:
        archive.refuse(f"uses the custom op namespaces {brief(sorted(namespaces))}: refused unread")
    nodes = [_node(raw, archive) for raw in need(graph, "nodes", list, archive)]
    values = need(graph, "tensor_values", dict, archive)
    shapes = {key: int_list(need(meta, "sizes", list, archive), archive) for key, meta in values.items()}
    placeholders, source, output, params = _signature(signature, tensors, archive)
    oversized = [key for key, shape in shapes.items() if prod(shape) > MAX_ELEMENTS]
    zeros = [node for node in nodes if node.name == "zeros"
             and tuple(node.arg("size") or ()) != shapes.get(node.outputs[0])]
    if oversized or zeros or source not in shapes or output not in shapes:
        archive.refuse("declares tensors it does not hold, or of more than 2**28 elements")
    is_ids = values[source].get("dtype") == 5 if isinstance(values[source], dict) else False
    return Program(nodes, placeholders, shapes, source, output, is_ids), params


def _check_sample_inputs(archive: Archive) -> None:
    """torch.export.load retries a sample-inputs pickle that weights_only loading refuses with weights_only=False
    (code would run): such an archive is refused, after the same weights_only check, which runs nothing."""
    member = "data/sample_inputs/model.pt"
    if member not in archive.members:
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.load(io.BytesIO(archive.read(member)), map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - weights_only's refusal (UnpicklingError) or a damaged pickle, alike
        archive.refuse(f"holds {member}, a pickle of more than plain tensors (torch.export.load would unpickle it "
                       f"with weights_only=False, running code): refused")


def read_archive(source, name: str, field: str) -> tuple:
    """(Program, the original's parameter count) of a .pt2 archive (a path or an io.BytesIO), after every check
    above; `name` is how messages call it."""
    archive = Archive(source, name, field)
    with archive.zip:
        if archive.read("archive_format") != b"pt2" or archive.members & {"byteorder"} and \
                archive.read("byteorder") != b"little":
            archive.refuse(f"is not a little-endian torch.export archive; {SAVE_INSTEAD}")
        _check_sample_inputs(archive)
        document = archive.json("models/model.json")
        tensors = _payloads(archive, "data/weights/", "model_weights_config.json")
        tensors.update(_payloads(archive, "data/constants/", "model_constants_config.json"))
        return read_program(document, tensors, archive)
