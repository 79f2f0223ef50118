# The two commands of the README's quickstart: `make demo` and `make test`.
# Each creates .venv from the pinned lock file on first use, so a fresh clone
# needs nothing but CPython 3.11, 3.12, 3.13 or 3.14 and the package registry.

PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3.14 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit browser package-check bench bench-service bench-service-auth bench-population bench-population-realistic bench-quick bench-fhir bench-charts bench-options fhir-examples fhir-codes-doc catalogue clean

# durable_rules 2.0.28 calls PyEval_CallObject, which CPython 3.13 removed: on 3.13 and 3.14 it is
# built from source with that name mapped onto PyObject_CallObject (its build ignores
# CFLAGS but honours CC), without the wheel cache, so that no unmapped build is reused.
DURABLE_ON_313 := CC='$(or $(CC),cc) -DPyEval_CallObject(f,a)=PyObject_CallObject(f,a)'

$(STAMP): pyproject.toml requirements/dev.lock
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 11) <= v < (3, 15) else "fbss-pathway is tested on CPython 3.11 to 3.14; set PYTHON=...")'
	$(PYTHON) -m venv $(VENV)
	if $(BIN)/python -c 'import sys; sys.exit(sys.version_info < (3, 13))'; then \
		$(DURABLE_ON_313) $(BIN)/python -m pip install --quiet --disable-pip-version-check \
			--no-cache-dir --no-binary durable-rules durable-rules==2.0.28; \
	fi
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

# A real FHIR server for the tests (fhirsnake, from PyPI), in its own virtual environment.
FHIRSNAKE := .venv-fhirsnake
$(FHIRSNAKE)/.installed: requirements/fhirsnake.lock
	$(PYTHON) -m venv $(FHIRSNAKE)
	$(FHIRSNAKE)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/fhirsnake.lock
	@touch $@

demo: $(STAMP)
	$(BIN)/fbss-pathway demo --reports build/reports

test: lint typecheck unit package-check

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Debian's Chromium for the browser test of the reports (tests/test_report_browser.py),
# installed where missing when this user may (CI runs as root); elsewhere that test skips,
# and under CI=true it fails. Screenshots of every example report land in build/screenshots.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "note: chromium is missing and cannot be installed here: the browser test skips"; \
		fi; }

unit: $(STAMP) $(FHIRSNAKE)/.installed browser
	FBSS_SCREENSHOTS=build/screenshots $(BIN)/pytest

# The standard build (an sdist, then a wheel from the sdist), installed in a fresh venv
# and run from another directory: what a user of the package gets (on 3.13 and later,
# with durable_rules built first as the README says).
PACKAGE := build/package-check
package-check: $(STAMP)
	rm -rf $(PACKAGE)
	$(BIN)/python -m build --outdir $(PACKAGE)/dist . > /dev/null
	$(PYTHON) -m venv $(PACKAGE)/venv
	if $(PACKAGE)/venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 13))'; then \
		$(DURABLE_ON_313) $(PACKAGE)/venv/bin/python -m pip install --quiet --disable-pip-version-check \
			--no-cache-dir --no-binary durable-rules durable-rules==2.0.28; \
	fi
	$(PACKAGE)/venv/bin/python -m pip install --quiet --disable-pip-version-check $(PACKAGE)/dist/*.whl
	cd $$(mktemp -d) && $(CURDIR)/$(PACKAGE)/venv/bin/fbss-pathway --version \
		&& $(CURDIR)/$(PACKAGE)/venv/bin/fbss-pathway demo > demo.txt \
		&& grep -q "18 example patients evaluated" demo.txt \
		&& $(CURDIR)/$(PACKAGE)/venv/bin/python -c 'import pathlib, fbss_pathway; \
		assert len(list(pathlib.Path(fbss_pathway.__file__).parent.glob("examples/fhir/*.bundle.json"))) == 18'
	@echo "package-check: the wheel built from the sdist installs and runs the demo"

# Benchmarks print figures (see docs/performance.md); they are not part of `make test`.
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

bench-service: $(STAMP)
	$(BIN)/python benchmarks/service.py

bench-service-auth: $(STAMP)
	$(BIN)/python benchmarks/service_auth.py

bench-fhir: $(STAMP)
	$(BIN)/python benchmarks/fhir_reader.py

bench-charts: $(STAMP)
	$(BIN)/python benchmarks/charts.py

bench-options: $(STAMP)
	$(BIN)/python benchmarks/options.py

bench-population: $(STAMP)
	$(BIN)/python benchmarks/population.py

bench-population-realistic: $(STAMP)
	$(BIN)/python benchmarks/population_realistic.py

bench-quick: $(STAMP)
	$(BIN)/python benchmarks/run.py --patients 2000 --evaluations 100000

# Regenerates examples/fhir/ from examples/patients/, with the invented names and birth
# dates of examples/fhir/patients.json (a test checks they are current).
fhir-examples: $(STAMP)
	for record in examples/patients/*.json; do \
		$(BIN)/fbss-pathway to-fhir $$record --patients examples/fhir/patients.json \
			> examples/fhir/$$(basename $$record .json).bundle.json; \
	done

# Regenerates the table of packaged codes in docs/fhir.md (a test checks it is current).
fhir-codes-doc: $(STAMP)
	$(BIN)/python -c 'import pathlib, re; from fbss_pathway.fhir import CodeMap; \
	doc = pathlib.Path("docs/fhir.md"); table = CodeMap.default().markdown(); \
	doc.write_text(re.sub(r"(?s)(<!-- codes:start -->\n).*(<!-- codes:end -->)", lambda m: m[1] + table + m[2], doc.read_text()))'

# Regenerates docs/rule-catalogue.md and the diagram in docs/pathway.md from the rule
# files (tests check both are current).
catalogue: $(STAMP)
	$(BIN)/fbss-pathway rules --markdown > docs/rule-catalogue.md
	$(BIN)/python -c 'import pathlib, re; from fbss_pathway import load_ruleset; \
	from fbss_pathway.explain.diagram import mermaid_diagram; doc = pathlib.Path("docs/pathway.md"); \
	block = "```mermaid\n" + mermaid_diagram(load_ruleset()) + "```\n"; \
	doc.write_text(re.sub(r"(?s)(<!-- diagram:start -->\n).*(<!-- diagram:end -->)", lambda m: m[1] + block + m[2], doc.read_text()))'

clean:
	rm -rf $(VENV) $(FHIRSNAKE) .pytest_cache .mypy_cache .ruff_cache .hypothesis
