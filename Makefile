# Two commands on a fresh clone: `make train` and `make test`. Both create .venv when it is missing.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install train test bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e ".[dev,export]"
	touch $(STAMP)

install: $(STAMP)

train: $(STAMP)
	$(PY) -m sttn_lightning.train $(ARGS)

test: $(STAMP)
	WANDB_MODE=offline $(PY) -m pytest -q $(ARGS)

clean:
	rm -rf $(VENV) outputs multirun logs
