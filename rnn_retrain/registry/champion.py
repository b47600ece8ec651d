"""The champion alias's history: every move recorded, rollback, and the promotion lock."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from rnn_retrain.errors import RetrainError
from rnn_retrain.registry.tracking import STORE_LOCK_SECONDS
from rnn_retrain.registry.versions import CHAMPION, ModelRegistry
from rnn_retrain.store import paths
from rnn_retrain.store.locks import exclusive_lock

MOVE_TAG_PREFIX = "champion.move."
# How long a run waits for another run's promotion decision before it gives up.
PROMOTION_LOCK_SECONDS = STORE_LOCK_SECONDS


@dataclass(frozen=True)
class ChampionMove:
    """One change of the ``champion`` alias."""

    at: str
    version: str
    previous_version: str | None
    kind: str  # "promotion" or "rollback"
    reason: str
    flow_run_id: str | None


class ChampionHistory:
    """Every move of a model's ``champion`` alias, kept as tags on the registered model.

    So the registry itself answers "which version was serving at time T", and a rollback puts
    back the champion that preceded the current one. The alias is the truth: a move sets it
    first and records itself after, so a crash in between loses a line of history, never the
    champion.
    """

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry

    def move(self, version: str, kind: str, reason: str, flow_run_id: str | None) -> ChampionMove:
        """Point ``champion`` at ``version`` and record the move."""
        previous = self.registry.champion()
        move = ChampionMove(
            at=datetime.now(timezone.utc).isoformat(timespec="microseconds"),
            version=str(version),
            previous_version=str(previous.version) if previous else None,
            kind=kind,
            reason=reason,
            flow_run_id=flow_run_id,
        )
        self.registry.set_alias(CHAMPION, move.version)
        stamp = move.at.replace("-", "").replace(":", "").replace(".", "").replace("+0000", "Z")
        self.registry.set_model_tag(MOVE_TAG_PREFIX + stamp, json.dumps(asdict(move)))
        return move

    def moves(self) -> list[ChampionMove]:
        """Every recorded move of ``champion``, oldest first."""
        moves = [
            ChampionMove(**json.loads(value))
            for key, value in self.registry.model_tags().items()
            if key.startswith(MOVE_TAG_PREFIX)
        ]
        return sorted(moves, key=lambda move: move.at)

    def at(self, when: datetime) -> ChampionMove | None:
        """The move that made the version serving at ``when`` champion, or None."""
        earlier = [move for move in self.moves() if datetime.fromisoformat(move.at) <= when]
        return earlier[-1] if earlier else None

    def rollback(self, reason: str = "rollback requested") -> ChampionMove:
        """Put the champion that preceded the current one back.

        Promotions stack up and each rollback pops one, so repeated rollbacks walk back through
        earlier champions rather than toggling between the last two.
        """
        stack: list[str] = []
        for move in self.moves():
            if move.kind == "rollback":
                stack.pop() if stack else None
            else:
                stack.append(move.version)
        name = self.registry.model_name
        current = self.registry.champion()
        if current is None:
            raise RetrainError(f"model {name!r} has no champion to roll back")
        if len(stack) < 2 or stack[-1] != str(current.version):
            raise RetrainError(
                f"model {name!r}: no earlier champion to roll back to from version "
                f"{current.version}"
            )
        return self.move(stack[-2], "rollback", reason, None)


@contextlib.contextmanager
def promotion_lock(
    registry: ModelRegistry, timeout: float = PROMOTION_LOCK_SECONDS
) -> Iterator[None]:
    """Let one run at a time register and judge a version of this model, on this machine.

    The lock is a file in ``$RETRAIN_HOME/locks`` named after the store and the model, so
    overlapping runs (a manual run during the scheduled one) take their decisions one after
    the other, each against the champion the previous one left.
    """
    name = registry.model_name
    path = paths.lock_file("registry", f"{registry.tracking_uri}\n{name}")
    with exclusive_lock(path, timeout, purpose=f"promotion decision on {name}"):
        yield
