"""The statistics toolbox (ground: imports no stage): Hedges g (``effects``), proportions with
Wilson / Newcombe intervals, odds ratios and NNT (``proportions``), Jacobson-Truax reliable
change (``clinical``).
"""
