"""Autograder for the convolution course unit: load, sandbox, grade, report."""
