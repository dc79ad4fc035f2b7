"""benchsuite's built-in workloads, registered through the `benchsuite.workloads` entry points."""
