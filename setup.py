from setuptools import find_packages, setup

setup(
    name="stock_pipeline",
    packages=find_packages(exclude=["stock_pipeline_tests", "stock_pipeline_tests.*"]),
)
