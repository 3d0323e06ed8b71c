# netdiag — the commands a fresh machine needs: `make demo`, `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: test demo bench captures lint typecheck clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# compat: a plain path in the venv's .pth; the default editable finder costs every
	# interpreter start in the venv (netdiag's commands included) about 20 ms
	$(BIN)/python -m pip install -q -e '.[test]' --config-settings editable_mode=compat
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/python -m netdiag.demo

bench: $(STAMP)
	$(BIN)/python tests/bench/run.py $(NAMES)

captures: $(STAMP)
	$(BIN)/python captures/make_captures.py
	$(BIN)/python captures/make_tcp_captures.py
	$(BIN)/python captures/make_tunnel_captures.py

lint: $(STAMP)
	$(BIN)/ruff check netdiag tests captures
	$(BIN)/ruff format --check netdiag tests captures

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .mypy_cache .hypothesis
