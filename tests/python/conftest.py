"""pytest fixtures shared by Kiln's Python tests.

- kiln_cli: path of the kiln CLI ($KILN_CLI or build*/bin/kiln); fails the test if missing.
- generated_models: {name: path} of every model scripts/gen_models.py makes, generated once
  per session into $KILN_BINARY_DIR/test_models (or a pytest temp dir when unset).
"""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
for p in (HERE, os.path.join(REPO_ROOT, "scripts")):
    if p not in sys.path:
        sys.path.insert(0, p)

import kiln_testutil  # noqa: E402


@pytest.fixture(scope="session")
def kiln_cli():
    return kiln_testutil.require_cli()


@pytest.fixture(scope="session")
def generated_models(tmp_path_factory):
    import gen_models
    binary_dir = os.environ.get("KILN_BINARY_DIR")
    if binary_dir:
        out = os.path.join(binary_dir, "test_models")
    else:
        out = str(tmp_path_factory.mktemp("test_models"))
    return gen_models.generate(out, gen_models.ALL_MODELS)
