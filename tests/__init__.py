"""Test suite (a package, so ``tests.conftest`` resolves here and not to a stray site-packages ``tests``)."""
