"""The weekly digest: periods (schedule.py), what goes in (build.py), how it reads (render.py).

All three are plain functions of their inputs, tested without a network or a clock.
"""
