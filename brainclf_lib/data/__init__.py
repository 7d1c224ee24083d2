"""From scans on disk to the volumes of one fold: discovery, preprocessing (once, cached), splits, datasets, transforms, and the synthetic cohort."""
