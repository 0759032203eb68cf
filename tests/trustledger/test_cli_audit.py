"""`trustledger audit` catches what the log alone cannot: the status map, anchors, rollbacks and rewrites (§4, §4b).

Each tampering is what an operator with write access to the database could do; the audit must exit 1 naming it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, select, text, update
from typer.testing import CliRunner

from anchors.model import CollectedCosignature, TimestampAnchor
from anchors.store import AnchorStore
from clock import StartedClock
from ledger.envelope import Envelope
from ledger.merkle import leaf_hash
from ledger.trusted import TrustedFileError, split_notes
from licences.store import licence_index
from signatures.note import CheckpointBody, NoteSigner, parse_checkpoint, sign_note, split_note
from tests.conftest import START
from trustledger.cli import app
from trustledger.region import Region, open_region
from trustledger.settings import Settings

WITNESS_LINE = "— witness.example/w1 " + base64.b64encode(b"\0\0\0\1" + bytes(72)).decode()  # not ours: ignored


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, process_clock: StartedClock) -> CliRunner:
    monkeypatch.setenv("TRUSTLEDGER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRUSTLEDGER_DATABASE_URL", db_url)
    return CliRunner()


def run(cli: CliRunner, *args: str, code: int = 0) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result.stdout if code == 0 else result.stdout + result.stderr


@pytest.fixture
def demo(cli: CliRunner) -> dict[str, str]:
    """A region with the demo licences (under 256 leaves: no full tile to recompute); their ids by name."""
    ids: dict[str, str] = json.loads(run(cli, "--json", "init", "--demo"))["demo_licences"]
    return ids


def _sql(conn_work: Callable[[Connection], None]) -> None:
    region = open_region(Settings())
    try:
        with region.store.engine.begin() as conn:
            conn_work(conn)
    finally:
        region.close()


def _exec(*statements: str, **params: object) -> Callable[[Connection], None]:
    def work(conn: Connection) -> None:
        for sql in statements:
            conn.execute(text(sql), params)

    return work


def _publish(cli: CliRunner, path: Path) -> Path:
    path.write_text(run(cli, "log", "checkpoint"))
    return path


def _revoke_one(cli: CliRunner, demo: dict[str, str]) -> None:
    run(cli, "licence", "revoke", next(iter(demo.values())), "--reason", "主动注销")


def _resign_newest(change: Callable[[CheckpointBody], CheckpointBody]) -> None:
    """Re-sign the newest stored checkpoint with the real log key after changing its body (a rogue operator)."""
    region = open_region(Settings())
    try:
        with region.store.engine.begin() as conn:
            seq, note = conn.execute(text("SELECT seq, note FROM ledger_checkpoints ORDER BY seq DESC LIMIT 1")).one()
            body = parse_checkpoint(split_note(note)[0])
            forged = sign_note(change(body).to_text(), region.log_signer)
            conn.execute(text("UPDATE ledger_checkpoints SET note = :n WHERE seq = :s"), {"n": forged, "s": seq})
    finally:
        region.close()


def _other() -> NoteSigner:
    return NoteSigner("other.example/log", Ed25519PrivateKey.generate())


# -- a clean region ----------------------------------------------------------------------------------------------------


def test_a_clean_region_passes_with_and_without_trusted_checkpoints(
    cli: CliRunner, demo: dict[str, str], tmp_path: Path
) -> None:
    first = _publish(cli, tmp_path / "first.note").read_text()
    report = json.loads(run(cli, "--json", "audit"))
    assert report["ok"] is True and report["checkpoints"] >= 2 and report["trusted_checkpoints"] == 0
    _revoke_one(cli, demo)
    second = _publish(cli, tmp_path / "second.note").read_text()
    witnessed = second + WITNESS_LINE + "\n"  # a witness's stored view: our note with its cosignature line
    foreign = sign_note("other.example/log\n1\n" + "A" * 43 + "=\n", _other())
    views = tmp_path / "views.notes"
    views.write_text(first + "\n\n" + foreign + "\n" + witnessed)
    report = json.loads(run(cli, "--json", "audit", "--trusted-checkpoint", str(views)))
    assert report["ok"] is True and report["trusted_checkpoints"] == 2
    run(cli, "audit", "--trusted-checkpoint", str(tmp_path / "first.note"), "--trusted-checkpoint", str(views))


def test_a_trusted_file_without_our_note_is_a_usage_error(cli: CliRunner, demo: dict[str, str], tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.note"
    foreign.write_text(sign_note("other.example/log\n1\n" + "A" * 43 + "=\n", _other()))
    assert "holds no checkpoint signed by our log key" in run(
        cli, "audit", "--trusted-checkpoint", str(foreign), code=2
    )
    garbage = tmp_path / "garbage.note"
    garbage.write_text("not a note\n")
    assert "no signature lines" in run(cli, "audit", "--trusted-checkpoint", str(garbage), code=2)
    assert "No such file" in run(cli, "audit", "--trusted-checkpoint", str(tmp_path / "missing"), code=2)
    ours = _publish(cli, tmp_path / "ours.note").read_text()
    origin, size, rest = ours.split("\n", 2)
    forged = tmp_path / "forged.note"
    forged.write_text(f"{origin}\n{int(size) + 1}\n{rest}")  # our signature line on another text
    assert "claims our log key but does not verify" in run(cli, "audit", "--trusted-checkpoint", str(forged), code=2)


def test_the_note_splitter_is_strict() -> None:
    one = "o\n1\nr\n\n— a sig\n"
    assert split_notes(one + "\n\n" + one + "— b sig\n") == [one, one + "— b sig\n"]
    for bad in ("o\n1\n\n\n— a sig\n", "o\n— a sig\n", "o\n1\n\n— a sig\nmore\n", "o\n1\nr\n"):
        with pytest.raises(TrustedFileError):
            split_notes(bad)


# -- tamperings, each caught with its name -----------------------------------------------------------------------------


def _edit_a_value(conn: Connection) -> None:
    path, size, value = conn.execute(  # the revoked licence's entry, made active again
        text("SELECT path, map_size, value FROM status_map_values ORDER BY map_size DESC, path LIMIT 1")
    ).one()
    assert '"revoked"' in value
    conn.execute(
        text("UPDATE status_map_values SET value = :v WHERE path = :p AND map_size = :s"),
        {"v": value.replace('"revoked"', '"active"'), "p": path, "s": size},
    )


def _edit_a_leaf_node(conn: Connection) -> None:
    key, size = conn.execute(
        text(
            "SELECT node_key, map_size FROM status_map_nodes WHERE leaf_path IS NOT NULL "
            "ORDER BY map_size DESC, node_key LIMIT 1"
        )
    ).one()
    conn.execute(
        text("UPDATE status_map_nodes SET hash = :h WHERE node_key = :k AND map_size = :s"),
        {"h": bytes(32), "k": key, "s": size},
    )


def _edit_the_root_node(conn: Connection) -> None:
    size = conn.execute(text("SELECT max(map_size) FROM status_map_nodes")).scalar_one()
    conn.execute(
        text("UPDATE status_map_nodes SET hash = :h WHERE node_key = :k AND map_size = :s"),
        {"h": bytes(32), "k": bytes(2), "s": size},
    )


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (_edit_a_value, "status_map_values: path "),
        (_edit_a_leaf_node, "status_map_nodes: key "),
        (_edit_the_root_node, "status_map_nodes: the stored map root at size"),
        (
            _exec(
                "DELETE FROM status_map_values WHERE path = (SELECT path FROM status_map_values ORDER BY path LIMIT 1)"
            ),
            "is missing (the events produce it)",
        ),
    ],
    ids=["value", "leaf-node", "root-node", "deleted-values"],
)
def test_status_map_tampering_fails(
    cli: CliRunner, demo: dict[str, str], tamper: Callable[[Connection], None], expected: str
) -> None:
    _revoke_one(cli, demo)
    run(cli, "audit")
    _sql(tamper)
    assert expected in run(cli, "audit", code=1)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda b: CheckpointBody(b.origin, b.size, b.root_hash, ()), "no status-map line, yet checkpoint 0"),
        (
            lambda b: CheckpointBody(b.origin, b.size, b.root_hash, ("status-map " + "A" * 43 + "=",)),
            "its status-map root differs from the map re-derived from events",
        ),
    ],
    ids=["line-dropped", "line-forged"],
)
def test_a_resigned_checkpoint_with_a_wrong_status_map_line_fails(
    cli: CliRunner, demo: dict[str, str], change: Callable[[CheckpointBody], CheckpointBody], expected: str
) -> None:
    _resign_newest(change)
    assert expected in run(cli, "audit", code=1)


def _anchor_newest(kind: str) -> None:
    region = open_region(Settings())
    try:
        cp = region.log.latest_checkpoint()
        assert cp is not None
        anchors = AnchorStore(region.store.engine)
        if kind == "timestamp":
            moment = START + timedelta(minutes=1)
            anchors.save_timestamp(
                TimestampAnchor(region.config.origin, cp.tree_size, cp.note, b"token", moment, moment)
            )
        else:
            cosig = CollectedCosignature(cp.tree_size, cp.note_hash, "witness.example/w1", b"\0\0\0\1", 1, WITNESS_LINE)
            anchors.save_cosignatures([cosig])
    finally:
        region.close()


def _delete_newest_checkpoint(region: Region) -> None:
    with region.store.engine.begin() as conn:
        conn.execute(text("DELETE FROM ledger_checkpoints WHERE seq = (SELECT max(seq) FROM ledger_checkpoints)"))


@pytest.mark.parametrize("kind", ["timestamp", "cosignature"])
def test_deleting_an_anchored_checkpoint_fails(cli: CliRunner, demo: dict[str, str], kind: str) -> None:
    _anchor_newest(kind)
    assert json.loads(run(cli, "--json", "audit"))["anchored_checkpoints"] == 1
    region = open_region(Settings())
    _delete_newest_checkpoint(region)
    region.close()
    assert "anchored checkpoint missing" in run(cli, "audit", code=1)


def test_rollback_is_caught_against_a_trusted_checkpoint(cli: CliRunner, demo: dict[str, str], tmp_path: Path) -> None:
    region = open_region(Settings())
    kept = region.log.size()
    licence = next(iter(demo.values()))
    with region.store.engine.connect() as conn:  # the revoked licence's index row before the revocation
        before = dict(conn.execute(select(licence_index).where(licence_index.c.licence_id == licence)).mappings().one())
    region.close()
    _revoke_one(cli, demo)
    published = _publish(cli, tmp_path / "published.note")
    # Roll the log back consistently: the newest events, tiles past them, every checkpoint, the map rows past them,
    # and the read models (`audit` re-derives them from the events): the history rows past them, the index row.
    _sql(
        _exec(
            "DELETE FROM ledger_events WHERE leaf_index >= :n",
            "DELETE FROM ledger_checkpoints",
            "DELETE FROM status_map_values WHERE map_size > :n",
            "DELETE FROM status_map_nodes WHERE map_size > :n",
            "DELETE FROM licence_history WHERE leaf_index >= :n",
            n=kept,
        )
    )
    _sql(lambda conn: conn.execute(update(licence_index).where(licence_index.c.licence_id == licence).values(before)))
    assert json.loads(run(cli, "--json", "audit"))["leaves"] == kept  # the log alone cannot tell
    out = run(cli, "audit", "--trusted-checkpoint", str(published), code=1)
    assert "rollback" in out and f"holds only {kept} leaves" in out


def test_rewrite_is_caught_against_a_trusted_checkpoint(cli: CliRunner, demo: dict[str, str], tmp_path: Path) -> None:
    published = _publish(cli, tmp_path / "published.note")

    def rewrite(conn: Connection) -> None:
        assert conn.execute(text("SELECT count(*) FROM ledger_tiles")).scalar_one() == 0  # nothing else to recompute
        stream, version, topic, state, at = conn.execute(
            text("SELECT stream, version, topic, state, recorded_at FROM ledger_events WHERE leaf_index = 0")
        ).one()
        assert not topic.startswith("licences.domain:Licence")  # not a status event: the map stays as it was
        edited = bytes(state).replace(b'"', b'"x', 1)  # any other bytes
        digest = leaf_hash(Envelope.of(0, stream, version, topic, at, edited).leaf_data())
        conn.execute(
            text("UPDATE ledger_events SET state = :s, leaf_hash = :h WHERE leaf_index = 0"), {"s": edited, "h": digest}
        )
        conn.execute(text("DELETE FROM ledger_checkpoints"))

    _sql(rewrite)
    run(cli, "log", "checkpoint")  # re-signed over the edited history
    run(cli, "audit")  # the log alone cannot tell
    out = run(cli, "audit", "--trusted-checkpoint", str(published), code=1)
    assert "rewrite" in out and "another root than the log" in out
