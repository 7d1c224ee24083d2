"""The paper's experiment as a whole: its grid of runs, the protocols compared, the calibration of the cohort, the reported figures."""
