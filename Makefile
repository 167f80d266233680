# Two commands on a fresh clone: `make train` and `make test`. Both create .venv when it is missing
# and install what they need: the pinned torch first, then the package (editable) with its extras.
VENV ?= .venv
PY := $(VENV)/bin/python
TRAIN_STAMP := $(VENV)/.installed-train
TEST_STAMP := $(VENV)/.installed-test
# the whole suite needs the test tools, training, sweeps (Optuna, submitit) and export (onnx, onnxruntime)
TEST_EXTRAS := dev,train,sweep,export

.PHONY: install train test test-fast clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# install EXTRAS into .venv (editable, so conf/ and src/ edits take effect without reinstalling)
define install_extras
	$(PY) -m pip install -q -c constraints.txt torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e ".[$(1)]"
endef

$(TRAIN_STAMP): pyproject.toml setup.py constraints.txt | $(PY)
	$(call install_extras,train)
	touch $@

$(TEST_STAMP): pyproject.toml setup.py constraints.txt | $(PY)
	$(call install_extras,$(TEST_EXTRAS))
	touch $@ $(TRAIN_STAMP)

install: $(TEST_STAMP)

train: $(TRAIN_STAMP)
	$(PY) -m sttn_lightning.train $(ARGS)

test: $(TEST_STAMP)
	WANDB_MODE=offline $(PY) -m pytest -q $(ARGS)

# day-to-day: everything but the tests marked slow (child processes, whole runs, the notebook)
test-fast: $(TEST_STAMP)
	WANDB_MODE=offline $(PY) -m pytest -q -m "not slow" $(ARGS)

clean:
	rm -rf $(VENV) outputs multirun logs build dist
