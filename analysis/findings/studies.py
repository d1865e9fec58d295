"""The studies behind the findings page: one record per sweep, what it needs, where it lands.

``make findings`` runs every study's sweep (:mod:`analysis.findings.run`) into
``<findings dir>/<study name>/`` and the page (:mod:`analysis.findings.page`) reads
each study from there; the commands the page prints come from these records too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: The checkout's folder (``analysis/`` is installed from it in place).
CHECKOUT = Path(__file__).resolve().parents[2]
#: The FEMNIST subset's tarball in ``../shared`` beside the checkout, unpacked on first use.
FEMNIST_TARBALL = (
    CHECKOUT.parent / "shared" / "data" / "femnist-leaf-subset" / "femnist-leaf-subset.tar.gz"
)
#: The folder under the findings directory that the tarball's ``train/`` and ``test/`` go to.
FEMNIST_SUBDIR = "femnist"


@dataclass(frozen=True)
class Study:
    """One sweep of ``sweeps/`` that the findings page reports.

    Attributes
    ----------
    name
        The sweep's config name (``sweeps/<name>.yaml``) and its results subfolder.
    question
        What it asks, one line (the page's section lead).
    needs_femnist
        It trains on the FEMNIST subset: ``dataset.path`` points at the unpacked copy.

    """

    name: str
    question: str
    needs_femnist: bool = False

    def results(self, root: Path) -> Path:
        """Its results folder under the findings directory ``root``."""
        return root / self.name

    def overrides(self, root: Path) -> list[str]:
        """The command-line overrides of its sweep under ``root`` (results, data)."""
        extra = [f"dataset.path={root / FEMNIST_SUBDIR}"] if self.needs_femnist else []
        return [*extra, f"results_dir={self.results(root)}"]

    def command(self, root: Path) -> str:
        """The shell command that runs (or resumes) its sweep."""
        return " ".join(["fedbench -m -cd sweeps -cn", self.name, *self.overrides(root)])


WHICH_HETEROGENEITY = Study(
    "which_heterogeneity", "Which kind and strength of skew hurts which algorithm?"
)
NATURAL_VS_MATCHED = Study(
    "natural_vs_matched",
    "Does a synthetic split calibrated to FEMNIST's writers cost what the writers cost?",
    needs_femnist=True,
)
NIID_BENCH_QUICK = Study(
    "niid_bench_fmnist_quick", "NIID-Bench's Fashion-MNIST table, scaled to minutes."
)
PARTICIPATION = Study("participation", "How far does the model fall on clients that never trained?")
FEDPROX_SYSTEMS = Study(
    "fedprox_systems", "Stragglers against statistical heterogeneity (the FedProx paper)."
)

#: Every study, in the page's order (and the order ``make findings`` runs them).
STUDIES = (
    WHICH_HETEROGENEITY,
    NATURAL_VS_MATCHED,
    NIID_BENCH_QUICK,
    PARTICIPATION,
    FEDPROX_SYSTEMS,
)
BY_NAME = {study.name: study for study in STUDIES}
