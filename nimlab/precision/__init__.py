"""Validate a lower-precision profile against fp32 before serving it: agreement, task score, speed."""
