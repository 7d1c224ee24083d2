"""Scoring a trained model: metrics, the evaluation of a run, prediction on new scans, Grad-CAM, and the histogram baseline."""
