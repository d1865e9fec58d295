"""What fedbench finds: the findings page, generated from the study sweeps' Parquet.

    make findings                          # run or resume the sweeps, then write the page
    python -m analysis.findings            # the page from what is in results/findings
    python -m analysis.findings --table drops   # the numbers behind one table

The studies are records (:mod:`~analysis.findings.studies`); drops against IID
(:mod:`~analysis.findings.drops`), metric predictors
(:mod:`~analysis.findings.predictors`), natural against matched splits
(:mod:`~analysis.findings.matched`) and the participation and stragglers studies
(:mod:`~analysis.findings.systems`) compute the numbers; :mod:`~analysis.findings.claims`
turns rankings into sentences; :mod:`~analysis.findings.page` writes the page.
"""
