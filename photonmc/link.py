"""A link: an ordered chain of stages from a source to a detector, read by a time tagger."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from photonmc.stages import Detector, Fiber, LadderMemory, QuantumDot, TimeTagger
from photonmc.stages._base import parameters, register_pytree


@dataclasses.dataclass(frozen=True, init=False)
class Link:
    """Source first, detector last, passive stages and memories in between (MODEL.md 3).

    A Link is a PyTree whose leaves are every continuous parameter of every stage and
    of the tagger, so `jax.grad` of an expected-mode output with respect to the link
    gives the derivative for every parameter at once. Address a parameter by its
    qualified name, `"<stage name>.<field>"` or `"tagger.<field>"`.
    """

    stages: tuple
    tagger: TimeTagger

    def __init__(self, stages: Sequence, tagger: TimeTagger):
        object.__setattr__(self, "stages", tuple(stages))
        object.__setattr__(self, "tagger", tagger)
        self._validate()

    def _validate(self):
        if not self.stages or not isinstance(self.stages[0], QuantumDot):
            raise ValueError("Link: the first stage must be a QuantumDot source")
        if not isinstance(self.stages[-1], Detector):
            raise ValueError("Link: the last stage must be a Detector")
        for s in self.stages[1:-1]:
            if isinstance(s, QuantumDot | Detector):
                raise ValueError(
                    f"Link: {type(s).__name__} {s.name!r} can only be the "
                    f"{'first' if isinstance(s, QuantumDot) else 'last'} stage"
                )
        if not isinstance(self.tagger, TimeTagger):
            raise ValueError("Link: tagger must be a TimeTagger")
        names = [s.name for s in self.stages] + ["tagger"]
        for n in names:
            if names.count(n) > 1:
                raise ValueError(f"Link: two stages are named {n!r}; give each a distinct name")

    # ------------------------------------------------------------------ parts
    @property
    def source(self) -> QuantumDot:
        return self.stages[0]

    @property
    def detector(self) -> Detector:
        return self.stages[-1]

    @property
    def middle(self) -> tuple:
        return self.stages[1:-1]

    @property
    def memories(self) -> tuple[LadderMemory, ...]:
        return tuple(s for s in self.stages if isinstance(s, LadderMemory))

    @property
    def detectors(self) -> tuple[Detector, ...]:
        return (self.detector,)

    def __getitem__(self, name: str):
        if name == "tagger":
            return self.tagger
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(f"no stage named {name!r}; stages: {[s.name for s in self.stages]}")

    @property
    def fixed_delay_ns(self) -> float:
        """Fixed group delay of all fibres (reported; times are retarded, MODEL.md 1)."""
        return float(sum(float(s.delay_ns) for s in self.stages if isinstance(s, Fiber)))

    # -------------------------------------------------------------- parameters
    def parameter_names(self) -> list[str]:
        """Qualified names of every continuous scalar parameter."""
        names = []
        for s in (*self.stages, self.tagger):
            for f in parameters(s):
                if f.name != "beat_terms" and getattr(s, f.name) is not None:
                    names.append(f"{s.name}.{f.name}")
        return names

    def get(self, qualified: str):
        stage_name, field = _split(qualified)
        s = self[stage_name]
        if not hasattr(s, field) or field == "name":
            raise KeyError(f"stage {stage_name!r} ({type(s).__name__}) has no parameter {field!r}")
        return getattr(s, field)

    def set(self, qualified: str, value) -> Link:
        """A new Link with one parameter replaced (validated like a construction)."""
        return self.replace({qualified: value})

    def replace(self, values: dict) -> Link:
        """A new Link with several parameters replaced, `{"stage.field": value}`."""
        by_stage: dict[str, dict] = {}
        for q, v in values.items():
            self.get(q)  # raises a clear KeyError for unknown names
            stage_name, field = _split(q)
            by_stage.setdefault(stage_name, {})[field] = v
        stages = [
            dataclasses.replace(s, **by_stage[s.name]) if s.name in by_stage else s
            for s in self.stages
        ]
        tagger = self.tagger
        if "tagger" in by_stage:
            tagger = dataclasses.replace(tagger, **by_stage["tagger"])
        return Link(stages, tagger)


register_pytree(Link, ["stages", "tagger"], [])


def _split(qualified: str) -> tuple[str, str]:
    stage_name, dot, field = qualified.partition(".")
    if not dot or not field:
        raise KeyError(f"parameter names look like 'stage.field', got {qualified!r}")
    return stage_name, field
