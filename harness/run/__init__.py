"""`harness run` and `harness convert`: one experiment's runs, trained in workers and reported.

Rule: built from the rooms below; never imports another command package (`sweep`, `bench`, `parity`).
"""

import sys
import types


class _CallablePackage(types.ModuleType):
    """Importing this package rebinds the name `harness.run` from the Python API's function to the package (Python
    sets a subpackage as its parent's attribute); calling the package is therefore that function."""

    def __call__(self, spec, out_dir=None, **options):
        from harness.run.experiment import run_api

        return run_api(spec, out_dir, **options)


sys.modules[__name__].__class__ = _CallablePackage
