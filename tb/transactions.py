"""The transaction-level half of every bench: what was sent, what must come back, and how
long it may take.

A bench's driver subclasses :class:`TransactionDriver`: it owns the block's stream agents
(from :class:`tb.bench.Env`), records one :class:`Transaction` per tensor / matrix /
window / dot product it sends, and checks the outputs against them with the shared
:class:`tb.scoreboard.Scoreboard`.  The base keeps the parts every bench needs in one
place: the record, the cycle budget that turns a hang into a failure, and the bounded
wait.
"""

from dataclasses import dataclass, field
from typing import Any

from cocotb.triggers import SimTimeoutError, with_timeout

__all__ = ["Transaction", "TransactionDriver"]


@dataclass
class Transaction:
    """One unit of work sent to the DUT.

    label: names it in every failure message.  outputs: how many output beats it must
    produce (whatever its input says).  expected: the golden answer (None when only the
    error flag is checked).  malformed: the input is bad on purpose, so ``error`` must rise.
    ideal_cycles: what it costs with nothing stalled (the block's cycle model), used for
    the hang budget.  info: whatever else the bench keeps per transaction (row lengths,
    which x it used, ...).
    """
    label: str
    outputs: int
    expected: Any = None
    malformed: bool = False
    ideal_cycles: int = 0
    info: dict = field(default_factory=dict)


class TransactionDriver:
    """Base of a bench driver: the transactions sent so far and bounded waiting on them.

    Subclasses add the agents and a ``send``; they call :meth:`record` for each
    transaction.  ``slack`` times the ideal cycles (plus ``floor``) is how long everything
    sent so far may take before the DUT is declared hung: generous, because random
    pauses on every stream can slow a run several times.
    """

    slack = 20
    floor = 2000

    def __init__(self, env):
        self.env = env
        self.transactions: list[Transaction] = []

    def record(self, transaction: Transaction) -> Transaction:
        self.transactions.append(transaction)
        return transaction

    @property
    def expected_outputs(self):
        return sum(t.outputs for t in self.transactions)

    def extra_cycles(self):
        """Cycles of work that are not transactions (e.g. memory loads); override."""
        return 0

    def budget(self):
        """Cycles everything sent so far may take before the DUT counts as hung."""
        ideal = sum(t.ideal_cycles for t in self.transactions) + self.extra_cycles()
        return self.slack * ideal + self.floor

    async def bounded(self, wait, what):
        """Await ``wait`` (a coroutine), failing after :meth:`budget` cycles."""
        cycles = self.budget()
        try:
            await with_timeout(wait, cycles * self.env.period, "step")
        except SimTimeoutError:
            raise AssertionError(f"{what} not done after {cycles} cycles: the DUT hangs") from None

    def outputs_of(self, beats):
        """Split ``beats`` (output beats in order) per transaction: (transaction, beats)."""
        at = 0
        for t in self.transactions:
            yield t, beats[at:at + t.outputs]
            at += t.outputs
