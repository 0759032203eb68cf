"""Three regions as real servers (河南 A and 江苏 B on SQLite, 广东 C on PostgreSQL, the fixture of
test_three_regions): B and C take A's licence status only as A's status map proves it (DESIGN §4b), never on A's
word. A revokes → B and C see `revoked`, proven at a checkpoint they name; A's database edited so that its proof no
longer matches its signed map root → refused (`status_proof_invalid`); A down → `valid_unconfirmed`.
"""

from __future__ import annotations

import json
import sqlite3

from signatures.statusmap import leaf_node, value_hash
from tests.anchors.test_three_regions import (  # noqa: F401 - `regions` is the fixture
    BUSINESS,
    Node,
    _codes,
    _issue,
    _verify,
    regions,
)


def _forge_active(node: Node) -> None:
    """Rewrite a region's newest "revoked" status map entry to "active", its leaf node with it (so the region's own
    consistency check of value against leaf passes and it serves the forged entry); the signed roots stay."""
    with sqlite3.connect(node.home / "trustledger.db") as db:
        path, size, value = db.execute(
            "SELECT path, map_size, value FROM status_map_values WHERE value LIKE '%\"revoked\"%' "
            "ORDER BY map_size DESC LIMIT 1"
        ).fetchone()
        forged = value.replace('"revoked"', '"active"')
        digest = value_hash(forged.encode())
        db.execute("UPDATE status_map_values SET value = ? WHERE path = ? AND map_size = ?", (forged, path, size))
        changed = db.execute(
            "UPDATE status_map_nodes SET hash = ?, value_hash = ? WHERE leaf_path = ? AND map_size = ?",
            (leaf_node(bytes(path), digest), digest, path, size),
        ).rowcount
    assert changed == 1


def _checkpoint_size(node: Node) -> int:
    note: str = node.cli("log", "checkpoint")["checkpoint"]
    return int(note.split("\n")[1])


def test_peers_take_a_licence_status_only_as_its_region_proves_it(regions: tuple[Node, Node, Node]) -> None:  # noqa: F811
    a, b, c = regions
    for node in regions:
        for peer in regions:
            if peer is not node:
                node.cli("peers", "add", peer.url)
    for node in regions:
        assert node.cli("peers", "sync")["ok"] is True
    for node in (b, c):
        node.cli("peers", "accept", a.origin, "--types", BUSINESS)
    js, gd = b.verifier_client(), c.verifier_client()
    first, second = _issue(a, 1), _issue(a, 2)

    # -- in force: valid, and the answer names the checkpoint of A the status was proven against ---------------------
    assert _verify(js, second).verdict == "valid"
    ok = _verify(js, first)
    assert ok.verdict == "valid", ok.reasons
    assert ok.status_proven is not None and ok.status_proven.checkpoint_size >= first["leaf_index"] + 1
    assert ok.status is not None and ok.status.verdict == "valid"
    assert ok.status_proven.value is not None and json.loads(ok.status_proven.value)["status"] == "active"
    assert ok.status_proven.proof_url is not None and ok.status_proven.proof_url.startswith(a.url)

    # -- A revokes: B and C see it, proven, at a checkpoint no older than the revocation ------------------------------
    a.cli("licence", "revoke", first["identifier"], "--reason", "申请注销")
    size = _checkpoint_size(a)
    for client in (js, gd):
        revoked = _verify(client, first)
        assert revoked.verdict == "invalid" and _codes(revoked) == ["revoked"], revoked.reasons
        assert revoked.status_proven is not None and revoked.status_proven.checkpoint_size >= size
        assert revoked.status is not None and revoked.status.verdict == "revoked"

    # -- A's database edited to say "active" again, value and leaf alike (A serves it): its proof no longer meets
    # the map root A signed -----------------------------------------------------------------------------------------
    _forge_active(a)
    lied = _verify(js, first)
    assert lied.verdict == "invalid" and _codes(lied) == ["status_proof_invalid"], lied.reasons
    assert not lied.valid and lied.use is not None and lied.use.outcome == "refused"

    # -- A down: no status can be proven now ----------------------------------------------
    assert _codes(_verify(js, second)) == ["status_proof_invalid"]  # its proof passes the forged leaf too
    a.stop()
    down = _verify(js, second)
    assert down.verdict == "valid_unconfirmed" and _codes(down) == ["status_unconfirmed"], down.reasons
    assert down.status_proven is None and down.status is None
    js.close()
    gd.close()
