"""``claw view RUN``: a local web page over a run's turns, tokens, metrics and publish-gate history.

:class:`~claw_trainer.view.runs.Run` reads a run folder / ``turns.jsonl`` / ``turns.sqlite``;
:class:`~claw_trainer.view.server.ViewServer` serves the page; :class:`~claw_trainer.view.tokens.TokenLog`
is what trainers write so the page can colour each token by the advantage it was trained with.
"""

from claw_trainer.view.tokens import TokenLog, turn_key

__all__ = ["TokenLog", "turn_key"]
