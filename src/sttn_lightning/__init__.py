"""STTN video inpainting as a PyTorch Lightning library with Hydra configs."""

__version__ = "0.1.0"
