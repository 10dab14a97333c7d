"""How well a face engine tells people apart on an operator's own photos.

``facekeep evaluate`` runs this on a folder of consented photos, one sub-folder per person
(or a ``manifest.csv`` with ``file`` and ``identity`` columns). Every photo is embedded
once per engine and kept in memory; everything after that is arithmetic on distances, in
the vocabulary of NIST FRTE:

- **Verification** (one photo against one photo): every pair of photos is a same-person
  (genuine) or a different-person (impostor) pair. At a threshold ``t`` a pair is accepted
  when its distance is ``<= t``; FMR is the share of impostor pairs accepted, FNMR the
  share of genuine pairs refused. The threshold for a target FMR is the largest multiple
  of the engine's step at which FMR stays at or under the target.
- **Open-set identification** (a kiosk's probe against every enrolled customer). A
  customer's distance is the smallest over their templates; a probe is answered with the
  best customer only if that distance is within the threshold and the second-best
  customer is at least ``margin`` farther (the vault's rule). Genuine probes end as
  right, wrong person, or missed; strangers as matched or not. FNIR = (wrong + missed) /
  genuine probes, FPIR = strangers matched / stranger probes.

  *Measured* at gallery sizes up to the people in the set: galleries are drawn at random
  (fixed seed, repeated draws), each person enrolled with their first photo showing
  exactly one face; every other photo is a probe. *Modelled* beyond that, for the
  deployment's size: each genuine pair stands for a probe and its enrolled mate, and the
  other ``G - 1`` customers are independent draws from the impostor distances, so the
  expected answers follow from the two distributions (:func:`modelled`). The model is
  used only up to one customer per ten impostor pairs, where the distribution's tail is
  still sampled; at measured sizes both are reported, so the model can be checked.

Photos in which no face is found are counted and left out. A photo with several faces is
used as a probe with its largest face (as a kiosk does) but never enrolled (enrolment
needs exactly one face). Nothing here imports ``vault``, ``keys`` or ``api``; the
rendering is in :mod:`enroll.evaluation.report`.
"""

from enroll.evaluation.arrays import distance_matrix
from enroll.evaluation.dataset import Dataset, DatasetError, Photo, first_photo_split, load_dataset
from enroll.evaluation.embedding import EmbeddedSet, embed_dataset
from enroll.evaluation.gallery_model import modelled
from enroll.evaluation.identification import (
    Identification,
    OpenSet,
    default_gallery_sizes,
    open_set,
    probe_gallery,
)
from enroll.evaluation.margin import MARGIN_BUDGET, MARGIN_GRID, MarginChoice, choose_margin
from enroll.evaluation.pipeline import (
    DEFAULT_DEPLOYMENT_SIZE,
    DEFAULT_DRAWS,
    DEFAULT_SEED,
    evaluate,
    evaluate_embeddings,
)
from enroll.evaluation.results import EngineEvaluation, Evaluation
from enroll.evaluation.verification import DEFAULT_TARGET_FMR, THRESHOLD_STEPS, Verification

__all__ = [
    "DEFAULT_DEPLOYMENT_SIZE",
    "DEFAULT_DRAWS",
    "DEFAULT_SEED",
    "DEFAULT_TARGET_FMR",
    "MARGIN_BUDGET",
    "MARGIN_GRID",
    "THRESHOLD_STEPS",
    "Dataset",
    "DatasetError",
    "EmbeddedSet",
    "EngineEvaluation",
    "Evaluation",
    "Identification",
    "MarginChoice",
    "OpenSet",
    "Photo",
    "Verification",
    "choose_margin",
    "default_gallery_sizes",
    "distance_matrix",
    "embed_dataset",
    "evaluate",
    "evaluate_embeddings",
    "first_photo_split",
    "load_dataset",
    "modelled",
    "open_set",
    "probe_gallery",
]
