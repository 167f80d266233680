"""Glue between Hydra configs and Lightning objects for the training entry point."""
