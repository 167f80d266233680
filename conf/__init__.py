"""The Hydra configs, installed as the package ``sttn_lightning.conf`` (see setup.py).

The entry points compose from ``pkg://sttn_lightning.conf``; this file makes conf/ an importable
package so the configs are found the same way from a wheel and from an editable checkout.
"""
