"""What the notebooks stand on: exercises and their checks, expected figures and how they are measured, the notebook runner, the site, figures."""
