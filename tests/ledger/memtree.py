"""An in-memory HashReader used to test the pure Merkle functions."""

from collections.abc import Sequence

from ledger.merkle import Node, root_of


class MemoryTree:
    """Leaf hashes in a list; node hashes computed on demand."""

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        self.leaves = list(leaf_hashes)

    def read_hashes(self, nodes: Sequence[Node]) -> list[bytes]:
        out = []
        for height, index in nodes:
            lo, hi = index << height, (index + 1) << height
            assert hi <= len(self.leaves), f"node {height}/{index} not complete"
            out.append(root_of(self.leaves[lo:hi]))
        return out
