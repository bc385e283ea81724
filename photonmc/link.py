"""A link: an ordered chain of stages from a source to a detector, read by a time tagger."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax

from photonmc.stages import (
    BeamSplitter,
    Detector,
    Fiber,
    HOMInterferometer,
    LadderMemory,
    OrcaMemory,
    QuantumDot,
    TimeTagger,
)
from photonmc.stages._base import parameters, register_pytree


@dataclasses.dataclass(frozen=True, init=False)
class Link:
    """Source first, then passive stages, memories, beam splitters and detectors.

    Without beam splitters a link is a chain ending in one Detector. A BeamSplitter
    opens two paths, "<name>.transmitted" and "<name>.reflected"; every stage after it
    names the path it sits on (`branch`), the stages of one path apply in list order,
    and every open path ends in exactly one Detector. Detectors are channels 0, 1, ...
    in list order.

    A Link is a PyTree whose leaves are every continuous parameter of every stage and
    of the tagger, so `jax.grad` of an expected-mode output with respect to the link
    gives the derivative for every parameter at once. Address a parameter by its
    qualified name, `"<stage name>.<field>"` or `"tagger.<field>"`.
    """

    stages: tuple
    tagger: TimeTagger
    reshaping: tuple = ()

    def __init__(self, stages: Sequence, tagger: TimeTagger, reshaping: tuple | None = None):
        object.__setattr__(self, "stages", tuple(stages))
        object.__setattr__(self, "tagger", tagger)
        self._validate()
        if reshaping is None:
            reshaping = self._reshaping()
        object.__setattr__(self, "reshaping", tuple(reshaping))

    def with_tagger(self, tagger: TimeTagger) -> Link:
        """The same stages (and reshaping choices) read by another tagger."""
        return Link(self.stages, tagger, self.reshaping)

    def _reshaping(self) -> tuple:
        """((stage name, choice), ...): which stages give the wavepacket a tabulated
        shape, and on what grid (`photonmc.laws`), decided once from the parameters the
        link was built with (static: a trace keeps the choice of the link it came from).
        A stage decides with its `reshaping(source)`; a traced parameter counts as on."""
        out = []
        for s in self.stages[1:]:
            choose = getattr(s, "reshaping", None)
            choice = choose(self.source) if choose is not None else None
            if choice is not None:
                out.append((s.name, choice))
        return tuple(out)

    def _validate(self):
        if not self.stages or not isinstance(self.stages[0], QuantumDot):
            raise ValueError("Link: the first stage must be a QuantumDot source")
        if not isinstance(self.tagger, TimeTagger):
            raise ValueError("Link: tagger must be a TimeTagger")
        names = [s.name for s in self.stages] + ["tagger"]
        for n in names:
            if names.count(n) > 1:
                raise ValueError(f"Link: two stages are named {n!r}; give each a distinct name")
            if "." in n:
                raise ValueError(f"Link: stage name {n!r} must not contain '.'")
        for s in self.stages[1:]:
            if isinstance(s, QuantumDot):
                raise ValueError(f"Link: QuantumDot {s.name!r} can only be the first stage")
        self.topology()  # raises on a bad layout of paths

    def topology(self) -> tuple[dict[str, int], dict[str, int]]:
        """(paths, path_of): path name -> id, and stage name -> id of the path it acts on.

        The trunk from the source is path "" (id 0); a BeamSplitter acts on its input
        path and opens its two outputs.
        """
        paths = {"": 0}
        open_paths = {""}
        ended: dict[str, str] = {}
        path_of = {self.stages[0].name: 0}
        for s in self.stages[1:]:
            branch = getattr(s, "branch", "")
            where = f"{type(s).__name__} {s.name!r}"
            if branch not in paths:
                raise ValueError(
                    f"Link: {where} sits on branch {branch!r}, which no BeamSplitter before "
                    f"it opens; open paths: {sorted(p for p in open_paths if p)}"
                )
            if branch in ended:
                raise ValueError(
                    f"Link: {where} sits on branch {branch or 'trunk'!r} after "
                    f"{ended[branch]!r}, which ends it"
                )
            path_of[s.name] = paths[branch]
            if isinstance(s, BeamSplitter | HOMInterferometer):
                ended[branch] = s.name
                open_paths.discard(branch)
                for out in s.outputs():
                    paths[out] = len(paths)
                    open_paths.add(out)
            elif isinstance(s, Detector):
                ended[branch] = s.name
                open_paths.discard(branch)
        if open_paths == {""}:
            raise ValueError("Link: the last stage must be a Detector")
        if open_paths:
            missing = sorted(p or "trunk" for p in open_paths)
            raise ValueError(f"Link: every path must end in a Detector; not ended: {missing}")
        return paths, path_of

    @property
    def paths(self) -> dict[str, int]:
        return self.topology()[0]

    @property
    def path_of(self) -> dict[str, int]:
        """Path id each stage acts on, and each path name's id (one lookup for stages)."""
        paths, path_of = self.topology()
        return {**paths, **path_of}

    # ------------------------------------------------------------------ parts
    @property
    def source(self) -> QuantumDot:
        return self.stages[0]

    @property
    def detectors(self) -> tuple[Detector, ...]:
        """Detectors in list order: channel i is detectors[i]."""
        return tuple(s for s in self.stages if isinstance(s, Detector))

    @property
    def detector(self) -> Detector:
        """The first detector (the only one of a link without beam splitters)."""
        return self.detectors[0]

    @property
    def middle(self) -> tuple:
        """Every stage between source and detectors, in list order."""
        return tuple(s for s in self.stages[1:] if not isinstance(s, Detector))

    @property
    def memories(self) -> tuple:
        """The memories (LadderMemory and OrcaMemory stages) in list order."""
        return tuple(s for s in self.stages if isinstance(s, LadderMemory | OrcaMemory))

    def __getitem__(self, name: str):
        if name == "tagger":
            return self.tagger
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(f"no stage named {name!r}; stages: {[s.name for s in self.stages]}")

    @property
    def fixed_delay_ns(self) -> float:
        """Fixed group delay of the fibres before the first detector (reported; times in
        histograms are retarded, docs/physics.md section 1)."""
        return self.delay_to(self.detector)

    def delay_to(self, detector: Detector) -> float:
        """Fixed group delay, ns, of the fibres between the source and `detector`."""
        paths, path_of = self.topology()
        # the detector's path and every path it descends from
        chain, target = set(), path_of[detector.name]
        parents = {}
        for s in self.stages:
            if isinstance(s, BeamSplitter | HOMInterferometer):
                for out in s.outputs():
                    parents[paths[out]] = path_of[s.name]
        while True:
            chain.add(target)
            if target not in parents:
                break
            target = parents[target]
        fibres = (s for s in self.stages if isinstance(s, Fiber) and path_of[s.name] in chain)
        return float(sum(float(s.delay_ns) for s in fibres))

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
        traced = any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(list(values.values())))
        # Traced values (a fit's trial step) keep the choices made from plain numbers.
        return Link(stages, tagger, self.reshaping if traced else None)


register_pytree(Link, ["stages", "tagger"], ["reshaping"])


def _split(qualified: str) -> tuple[str, str]:
    stage_name, dot, field = qualified.partition(".")
    if not dot or not field:
        raise KeyError(f"parameter names look like 'stage.field', got {qualified!r}")
    return stage_name, field


def propagate(link: Link, key, n_static: int, ctx):
    """Emit and pass through every stage up to the detector: (batch, info, detector key)."""
    keys = jax.random.split(key, len(link.middle) + 2)  # source, middle stages, detection
    batch, info = link.source.emit(keys[0], n_static, ctx)
    for stage, k in zip(link.middle, keys[1:-1], strict=True):
        batch, stage_info = stage.apply(batch, k, ctx)
        info.update(stage_info)
    return batch, info, keys[-1]
