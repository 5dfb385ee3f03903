"""Build of hipsense's one C extension (everything else is in pyproject.toml)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "hipsense._kernels",
            ["src/hipsense/_kernels.c"],
            # Keep the written order of floating-point operations: no fused multiply-adds,
            # no fast-math, so results are the same on every build and for every block split.
            extra_compile_args=["-O2", "-ffp-contract=off", "-fno-fast-math", "-std=c11"],
            libraries=["m"],
        )
    ]
)
