# The one front door. `make book` builds the site (creating .venv first if needed); `make test` runs the tests.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
# torch pinned so that this machine takes its local CPU wheel; on Linux with internet the same pin
# from PyPI is the CUDA build. A CPU-only machine elsewhere can add TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
EXTRAS ?= book,test
MATHJAX := 3.2.2
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: list help venv test test-slow test-gpu lint book book-fast student run sweep bench check-site browser-test publish clean \
	check-reference update-reference check-numbers paper-bundle

help:
	@echo "make book        build the static site into _build/html (creates .venv if needed)"
	@echo "make test        run the test suite (fast tests; 'make test-slow' for the heavier ones)"
	@echo "make test-gpu    the same computations on CUDA against the CPU (on a machine with a GPU)"
	@echo "make run NB=convergence P='-p density 0.1'   rerun one chapter with new parameters"
	@echo "make sweep NB=convergence G='--grid density=0.05,0.1'   sweep a grid of parameters"
	@echo "make list        list the chapters, their parameters count and presets"
	@echo "make student     build the student edition (solutions stripped) into student/_build/html"
	@echo "make publish     push _build/html (after make book) to the gh-pages branch (ghp-import)"
	@echo "make bench       time the batched kernels (benchmarks/)"
	@echo "make paper-bundle  (re)compute the paper-scale convergence results in results/paper (resumable)"
	@echo "make check-reference   compare the built metrics (_build/outputs) with tests/reference/*.yaml"
	@echo "make update-reference  after an intended change: store the built metrics as the new reference"
	@echo "make check-numbers     every number in a built chapter's captions and prose comes from its notebook"
	@echo "make clean       remove builds and runs"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) "$(TORCH)" -e ".[$(EXTRAS)]"
	touch $@

venv: $(STAMP)

test: venv
	GRAPHON_PROGRESS=0 $(BIN)/python -m pytest -q

test-slow: venv
	GRAPHON_PROGRESS=0 $(BIN)/python -m pytest -q -m slow

# Without a GPU every gpu test is skipped and pytest exits 0: say loudly that nothing was checked.
test-gpu: venv
	GRAPHON_PROGRESS=0 $(BIN)/python -m pytest -q -m gpu
	@$(BIN)/python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null || \
	  echo "make test-gpu: torch sees no CUDA GPU here, so every gpu test was SKIPPED: nothing was checked."

lint: venv
	$(BIN)/ruff check graphon tests benchmarks scripts

# MathJax 3 served from the site itself (no CDN): the combined component, its fonts, and the TeX extensions
# that it autoloads on demand (\boldsymbol, \cancel, mathtools...; without them such a page shows raw TeX).
# The stamp names the version and the recipe, so a machine with an older _static_vendor re-vendors.
MATHJAX_STAMP := _static_vendor/mathjax/.vendored-$(MATHJAX)-2
$(MATHJAX_STAMP):
	rm -rf _static_vendor/mathjax
	tmp=$$(mktemp -d) && cd $$tmp && npm pack -q mathjax@$(MATHJAX) >/dev/null && tar xzf mathjax-$(MATHJAX).tgz && \
	mkdir -p $(CURDIR)/_static_vendor/mathjax/output/chtml/fonts $(CURDIR)/_static_vendor/mathjax/input/tex && \
	cp package/es5/tex-mml-chtml.js $(CURDIR)/_static_vendor/mathjax/ && \
	cp -r package/es5/output/chtml/fonts/woff-v2 $(CURDIR)/_static_vendor/mathjax/output/chtml/fonts/ && \
	cp -r package/es5/input/tex/extensions $(CURDIR)/_static_vendor/mathjax/input/tex/ && \
	rm -rf $$tmp
	touch $@

mathjax: $(MATHJAX_STAMP)

# MPLBACKEND must not reach the kernels: with Agg set, plt.show() draws nothing and the book loses its figures.
book: venv mathjax
	env -u MPLBACKEND GRAPHON_PROGRESS=0 $(BIN)/jupyter-book build . --all -W -n --keep-going

check-site: venv
	$(BIN)/python scripts/check_site.py _build/html

# Reference numbers (tests/reference/<chapter>.yaml, format in graphon/reference.py): `make book` first.
# update-reference keeps every tolerance and reason; new numbers join with `scripts/check_reference.py add`.
check-reference: venv
	$(BIN)/python scripts/check_reference.py check

update-reference: venv
	$(BIN)/python scripts/check_reference.py update

check-numbers: venv
	$(BIN)/python scripts/check_numbers.py _build

browser-test: venv
	bash scripts/ci_browser_setup.sh $(VENV)
	$(BIN)/python -m pytest -q -m browser tests/browser --site _build/html

# Publishing, Jupyter Book's own recipe: ghp-import commits exactly _build/html (plus .nojekyll, so that
# GitHub Pages serves the _static/ folders) to the gh-pages branch and pushes it. Run `make book` first;
# check-site refuses a tree with absolute paths, remote scripts or dangling links. CI's alternative is
# .github/workflows/pages.yml (the same make book, then GitHub's Pages actions).
publish: check-site
	$(BIN)/ghp-import --no-jekyll --force --push --message "Publish the book from $$(git rev-parse --short HEAD)" _build/html

student: venv mathjax
	$(BIN)/python scripts/student_edition.py --out student --build

NB ?= convergence
P ?=
run: venv
	$(BIN)/python -m graphon run $(NB) $(P)

list: venv
	$(BIN)/python -m graphon list

G ?=
sweep: venv
	$(BIN)/python -m graphon sweep $(NB) $(G)

bench: venv
	$(BIN)/python benchmarks/bench_masks.py --cut-distance
	$(BIN)/python benchmarks/bench_ntk.py

# The paper-scale convergence bundle (Figs 1, 3, 4, 5): about an hour on a 2-core CPU; resumable
# (rerun after an interruption: finished points are skipped); points made by other code are redone.
paper-bundle: venv
	$(BIN)/python -m graphon.paper_bundle --out results/paper

clean:
	rm -rf _build runs student .pytest_cache
