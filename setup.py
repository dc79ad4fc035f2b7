"""Which packages the wheel holds; everything else is in pyproject.toml.

Every package under benchsuite/ and workloads/ is found, so a new sub-package ships without
an edit here; ``benchsuite.reference`` (reports/reference, mapped in pyproject.toml's
package-dir) has no ``__init__.py`` and is named explicitly. pyproject.toml alone cannot
say both: ``packages.find`` does not pick up a package mapped to another folder.
"""

from setuptools import find_packages, setup

setup(packages=find_packages(include=["benchsuite", "benchsuite.*", "workloads", "workloads.*"])
      + ["benchsuite.reference"])
