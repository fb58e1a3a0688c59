# The cffi extension can only be declared through setup(); everything else is
# in pyproject.toml.
from setuptools import setup

setup(cffi_modules=["src/singleflight/_build.py:ffibuilder"])
