"""The hand-over: priority records committed in this process go straight to the relay's
priority lane, without the lane waiting for the commit's notification and reading them back."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from eps_chassis.outbox import OutboxRecord, Written


class HandOvers:
    """Priority records committed in this process, handed to the lane to publish at once.

    Each commit notifies with its transaction id. A notification whose transaction was handed
    over needs no read of the table; any other (another replica, a commit that did not hand
    over, or a hand-over that has not arrived yet) makes the lane read it. Ids published are
    remembered for a while, so a record both read and handed over is published once.
    """

    KEEP = 10_000

    def __init__(self, topics: Sequence[str]) -> None:
        self.topics = frozenset(topics)
        self.leading = False
        self.queue: list[tuple[int, OutboxRecord]] = []
        self.read_needed = True  # whatever the notifications say (start, poll, failure)
        self._expected: OrderedDict[int, None] = OrderedDict()  # handed over, not yet notified
        self._unmatched: set[int] = set()  # notified, not (yet) handed over
        self._published: OrderedDict[int, None] = OrderedDict()

    def handed(self, txid: int, written: Written) -> bool:
        """Take a committed transaction's records; True when some are this lane's to publish."""
        if txid in self._unmatched:
            self._unmatched.discard(txid)
        else:
            self._remember(self._expected, txid)
        mine = [(i, r) for i, r in written if r.topic in self.topics]
        self.queue.extend(mine)
        return bool(mine)

    def notified(self, payload: str) -> bool:
        """A commit notified; True when the lane must read the table."""
        txid = int(payload) if payload.isdigit() else None
        if txid is not None and txid in self._expected:
            del self._expected[txid]
            return False
        if txid is None:
            self.read_needed = True
        else:
            self._unmatched.add(txid)
        return True

    @property
    def awaiting_hand_overs(self) -> bool:
        """Only notifications are pending whose hand-overs may be a step behind."""
        return bool(self._unmatched) and not self.read_needed

    def take(self) -> list[tuple[int, OutboxRecord]]:
        queue, self.queue = self.queue, []
        return [(i, r) for i, r in queue if i not in self._published]

    def take_read(self) -> bool:
        read = self.read_needed or bool(self._unmatched)
        self.read_needed = False
        self._unmatched.clear()
        return read

    def published(self, ids: Sequence[int]) -> None:
        for i in ids:
            self._remember(self._published, i)

    def reset(self, leading: bool) -> None:
        """Leadership gained or lost: start again from a read of the table."""
        self.leading = leading
        self.queue.clear()
        self._expected.clear()
        self._unmatched.clear()
        self._published.clear()
        self.read_needed = True

    def _remember(self, kept: OrderedDict[int, None], key: int) -> None:
        kept[key] = None
        if len(kept) > self.KEEP:
            kept.popitem(last=False)
