# The cffi extension can only be declared through setup(); everything else is
# in pyproject.toml. src/singleflight/_build.py decides which engine the
# extension links (its docstring says how); the two commands below carry out
# the bundled case:
#   - build_ext builds the engine from its sources with Meson and puts
#     libsingleflight.so.0 beside the extension (which finds it through the
#     rpath $ORIGIN), so the wheel ships it;
#   - sdist copies the engine's sources into the sdist's _engine/ folder, so
#     a wheel built from the sdist (`python -m build`) can bundle it too.
import importlib.util
import os
import shutil

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.sdist import sdist

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD_SCRIPT = "src/singleflight/_build.py"


def _build_script():
    # cffi runs the same script for cffi_modules; this copy serves the
    # commands below, which need its choice and its helpers.
    spec = importlib.util.spec_from_file_location("_sf_build", os.path.join(HERE, BUILD_SCRIPT))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildExt(build_ext):
    bundles = False

    def pre_run(self, ext, ffi):
        """cffi's hook, called before it writes the module's C source."""
        sf = _build_script()
        here = os.path.dirname(self.get_ext_fullpath(ext.name))
        bundled = os.path.join(here, sf.SONAME)
        if sf.BUNDLED_SOURCE is None:
            # Linking an installed engine: no copy of another build may stay.
            if os.path.exists(bundled):
                os.remove(bundled)
            return
        built = sf.build_engine(sf.BUNDLED_SOURCE)
        os.makedirs(here, exist_ok=True)
        shutil.copyfile(built, bundled)
        self.bundles = True

    def build_extensions(self):
        if self.bundles:
            # A relocatable module: $ORIGIN is its only rpath. Some
            # interpreters' link command (sysconfig's LDSHARED) adds an rpath
            # to their own lib directory, which the module does not need (it
            # does not link libpython).
            self.compiler.linker_so = [
                a for a in self.compiler.linker_so if not a.startswith("-Wl,-rpath,")
            ]
        super().build_extensions()


class Sdist(sdist):
    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        sf = _build_script()
        source = sf.engine_sources()
        if source is None:
            self.warn("no engine sources found: the sdist can only link an installed engine")
            return
        for name in sf.ENGINE_SOURCES:
            src = os.path.join(source, name)
            dst = os.path.join(base_dir, "_engine", name)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if os.path.isdir(src):
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copyfile(src, dst)


setup(
    cffi_modules=[f"{BUILD_SCRIPT}:ffibuilder"],
    cmdclass={"build_ext": BuildExt, "sdist": Sdist},
)
