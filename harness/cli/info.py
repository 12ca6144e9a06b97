"""The commands that only read: `validate` (a spec and its data), `list` (what the registry knows, the ready
experiments) and `schema`. None trains; `list` and `schema` import no framework, pandas or matplotlib."""

import json
from pathlib import Path

from harness.core import folders, registry
from harness.core.errors import SpecError

EXPERIMENTS = folders.PROJECT / "experiments"


def _layer_table(spec) -> str:
    from harness.core import shapes

    infos = shapes.infer(spec.model)
    lines = [f"{'#':>3}  {'layer':<22} {'output shape':<22} {'params':>10}"]
    for info in infos:
        lines.append(f"{info.index:>3}  {info.type:<22} {str(['batch', *info.output_shape]):<22} {info.params:>10,}")
    lines.append(f"trainable parameters: {shapes.count_params(spec.model):,}")
    frozen = sum(info.non_trainable for info in infos)
    if frozen:
        lines.append(f"non-trainable (batch normalization moving statistics): {frozen:,}")
    return "\n".join(lines)


def cmd_validate(args) -> int:
    from harness.core import data, resources
    from harness.core.validate import check_analysis, load_spec

    spec = load_spec(args.spec)
    heading = None
    if spec.sweep:
        from harness.core.overrides import spec_dump
        from harness.sweep.expand import expand

        points = expand(spec, spec_dump(spec))
        for point in points:
            resources.check(point.spec, allow_large=args.allow_large)
        heading = f"{spec.name}: sweep of {len(points)} points ({spec.mode}); each valid. The first point:"
        spec = points[0].spec
    resources.check(spec, allow_large=args.allow_large)
    dataset = data.prepare(spec)
    samples = dataset.n_train + len(dataset.x_val) + len(dataset.x_test)
    estimate = resources.check(spec, allow_large=args.allow_large, samples=samples)
    check_analysis(spec.analysis, dataset.target.task, dataset.target.metric)
    if heading:
        print(heading)
    print(f"{spec.name}: valid")
    print(_layer_table(spec))
    print(f"data: {dataset.n_train} train / {len(dataset.x_val)} validation / {len(dataset.x_test)} test samples, "
          f"{dataset.target.task}, labels {dataset.target.label_format}")
    for note in data.notes(spec, dataset):
        print(f"note: {note}")
    print(f"memory: {estimate.text()}; {resources.available_bytes() / resources.GIB:.1f} GiB available")
    return 0


def _experiments() -> dict[str, str]:
    from harness.core.spec_file import read_mapping

    found = {}
    for path in sorted(EXPERIMENTS.glob("*.yaml")):
        shown = str(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)
        try:
            found[shown] = str(read_mapping(path).get("description", ""))
        except SpecError:
            found[shown] = "(unreadable)"
    return found


def cmd_list(args) -> int:
    for section, table in {**registry.all_tables(), "experiments": _experiments()}.items():
        print(f"{section}:")
        width = max(map(len, table), default=0)
        for name, text in table.items():
            print(f"  {name:<{width}}  {text}")
    return 0


def cmd_schema(args) -> int:
    from harness.core.spec import Spec

    print(json.dumps(Spec.model_json_schema(), indent=2))
    return 0
