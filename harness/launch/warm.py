"""A worker started before its job exists: `python -m harness.launch.warm FRAMEWORK`.

It imports the framework's adapter (the seconds a fresh worker spends before it can build a model) while the
driver still prepares the data, then reads its job file's path from stdin and runs the job as
`python -m harness.jobs.execute JOB.json` would, in this same process. Importing a framework starts none of its
runtime, so the job's thread counts still apply; an import that fails here is left to the job, whose result
names the error. An empty stdin (the driver had no job for it, or died) ends it.
`harness.launch.pool` hands it only jobs without environment variables, which must precede the import.
"""

import os
import sys


def main(argv=None) -> int:
    framework = (argv if argv is not None else sys.argv[1:])[0]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from harness.jobs import execute, frameworks

    try:
        frameworks.load(framework)
    except Exception:  # the job's own import below fails again, and its result names the error
        pass
    job_path = sys.stdin.readline().strip()
    if not job_path:
        return 0
    return execute.main([job_path])


if __name__ == "__main__":
    sys.exit(main())
