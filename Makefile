# The README's two commands: `make run` and `make test`. Both create .venv when missing.
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
SPEC ?= experiments/mlp_mnist1d.yaml

.PHONY: run test venv clean course

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/harness run $(SPEC)

test: $(STAMP)
	$(VENV)/bin/python -m pytest

# docs/course.html: executes docs/course.ipynb (as tests/test_course.py does) and renders it, plots embedded
course: $(STAMP)
	$(VENV)/bin/python tests/test_course.py

clean:
	rm -rf $(VENV) results
