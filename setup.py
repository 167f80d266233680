"""The package list, which pyproject.toml cannot express: src/'s packages plus conf/ as ``sttn_lightning.conf``.

conf/ stays at the repository's top level; the build maps it into the wheel, where the entry
points find it as ``pkg://sttn_lightning.conf``. Every folder of conf/ is a (namespace) package
whose YAML files are its data.
"""

from setuptools import find_namespace_packages, find_packages, setup

CONF_PACKAGES = [
    "sttn_lightning.conf",
    *(f"sttn_lightning.conf.{name}" for name in find_namespace_packages("conf", exclude=["*__pycache__*"])),
]

setup(
    package_dir={"": "src", "sttn_lightning.conf": "conf"},
    packages=[*find_packages("src"), *CONF_PACKAGES],
    package_data={package: ["*.yaml"] for package in CONF_PACKAGES},
)
