"""The commands that bring models in and take them out: `harness import FILE`, `harness export SPEC` and
`harness code SPEC`. Each imports what it needs when it runs, so building the command line stays light."""


def cmd_import(args) -> int:
    from harness.core.imported import PROBE_SAMPLES, TOLERANCE
    from harness.port.importing import OTHER, import_file

    proof = import_file(args.file, out=args.out, force=args.force, in_process=args.in_process)
    other = OTHER[proof.source]
    counted = ("the same" if proof.original_params == proof.spec_params else
               f"{proof.original_params - proof.spec_params:+,} there (see the notes)")
    print(f"\nimported {args.file} ({proof.source}): {len(proof.spec.model.layers)} layers")
    print(f"parameters: {proof.original_params:,} in the original ({proof.source}); {proof.spec_params:,} in the "
          f"spec, in both frameworks ({counted})")
    print(f"proof: the {other} model built from the spec, with the imported weights, against the original on "
          f"{PROBE_SAMPLES} samples: largest difference {proof.difference:.2g} (at most {TOLERANCE:g} allowed)")
    for note in proof.notes:
        print(f"note: {note}")
    print(f"wrote {proof.spec_path} and {proof.weights_path}")
    placeholder = proof.spec.data.dataset == "npz"
    print(f"next: harness run {proof.spec_path}" + ("   (edit its data section first: see the comments at its top)"
                                                   if placeholder else ""))
    return 0


def cmd_export(args) -> int:
    from harness.core.validate import load_spec
    from harness.port.exporting import export, format_table

    frameworks = ("tensorflow", "torch") if args.framework == "both" else (args.framework,)
    rows = export(load_spec(args.spec), args.weights, frameworks=frameworks, formats=(args.format,), out=args.out,
                  force=args.force, in_process=args.in_process)
    print("\n" + format_table(rows))
    return 0 if all(row.get("status") == "ok" and row.get("within_tolerance") for row in rows) else 1


def cmd_code(args) -> int:
    from pathlib import Path

    from harness.code.write import write_code
    from harness.core import data, resources
    from harness.core.errors import SpecError
    from harness.core.validate import load_spec

    spec = load_spec(args.spec)
    seed = spec.seeds[0] if args.seed is None else args.seed
    if not 0 <= seed < 2 ** 32:
        raise SpecError("--seed", f"expected an integer in [0, 2**32); received {seed}")
    resources.check(spec, allow_large=args.allow_large)  # before the data is made
    out = Path(args.out) if args.out else Path("results") / spec.name / "code"
    paths = write_code(spec, data.prepare(spec), out, seed, Path(args.spec).name, force=args.force)
    for path in paths:
        print(f"wrote {path}")
    print(f"next: python {out / 'model_keras.py'} --weights {out / 'initial_weights.npz'}   (and model_torch.py)")
    return 0
