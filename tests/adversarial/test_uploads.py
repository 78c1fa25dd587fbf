"""Hostile uploads: zips that escape, bombs, links and remote code are refused and write nothing outside
the upload folder; an upload is private to its session unless shared."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import render_page as _page
from prune_core.errors import PruneScopeError
from prune_core.zoo import MODELS_DIR, load_model


from hostile import make_zip, remote_code_folder


@pytest.fixture
def upload_dir(tmp_path, monkeypatch):
    folder = tmp_path / "uploads"
    monkeypatch.setenv("PRUNESCOPE_UPLOAD_DIR", str(folder))
    monkeypatch.delenv("PRUNESCOPE_SHARE_UPLOADS", raising=False)
    return folder


def _model_zip(name: str = "tiny-shakespeare-gpt", extra: dict[str, bytes] | None = None) -> bytes:
    files = {f"{name}/{p.name}": p.read_bytes() for p in (MODELS_DIR / name).iterdir()}
    return make_zip(files | (extra or {}))


@pytest.mark.parametrize("files,links,words", [
    ({"../escaped.txt": b"x", "config.json": b"{}"}, (), "unsafe path '../escaped.txt'"),
    ({"/abs/config.json": b"{}"}, (), "unsafe path '/abs/config.json'"),
    ({"config.json": b"{}"}, ("model.safetensors",), "a link 'model.safetensors'"),
    ({"README.md": b"hello"}, (), "no config.json"),
])
def test_hostile_zips_are_refused_and_write_nothing_outside(tmp_path, upload_dir, files, links, words):
    from prune_core.uploads import save_upload

    with pytest.raises(PruneScopeError, match=words.replace("(", r"\(")):
        save_upload([("m.zip", make_zip(files, links))], "session1")
    assert not (tmp_path / "escaped.txt").exists() and not Path("/abs").exists()
    leftovers = [p for p in upload_dir.rglob("*") if p.is_file()] if upload_dir.exists() else []
    assert leftovers == []


def test_zip_bomb_stops_at_the_limit(tmp_path, upload_dir, monkeypatch):
    from prune_core import uploads

    monkeypatch.setattr(uploads, "MAX_EXTRACTED", 1_000_000)
    bomb = make_zip({"config.json": b"{}", "model.safetensors": bytes(50_000_000)})  # 50 MB of zeros, ~50 KB zipped
    assert len(bomb) < 200_000
    with pytest.raises(PruneScopeError, match="expands to more than 1.0 MB"):
        uploads.save_upload([("bomb.zip", bomb)], "session1")
    assert not [p for p in upload_dir.rglob("*") if p.is_file()]


def test_upload_keeps_only_model_files_and_is_private_unless_shared(upload_dir, monkeypatch):
    from prune_core.uploads import save_upload, shared_uploads

    data = _model_zip(extra={"tiny-shakespeare-gpt/modeling_evil.py": b"open('/tmp/x','w')",
                             "tiny-shakespeare-gpt/pytorch_model.bin": b"not read"})
    a = save_upload([("gpt.zip", data)], "sessionA")
    b = save_upload([("gpt.zip", data)], "sessionB")
    assert a.path != b.path and a.path.parent.name == "sessionA"
    assert sorted(a.ignored) == ["card.json", "modeling_evil.py", "pytorch_model.bin"]  # our own card.json only
    assert not list(a.path.glob("*.py")) and not list(a.path.glob("*.bin"))
    assert load_model(str(a.path)).card.name == "gpt"
    assert shared_uploads() == {}
    monkeypatch.setenv("PRUNESCOPE_SHARE_UPLOADS", "1")
    shared = save_upload([("gpt.zip", data)], "shared")
    assert shared_uploads() == {f"gpt ({shared.path.name[:8]})": shared.path}


def test_upload_through_the_page_is_checked_and_private(upload_dir, tmp_path):
    from pages.ui.picker import UPLOAD

    at = _page("explore", UPLOAD)
    at.file_uploader(key="model_upload").set_value(("gpt.zip", _model_zip(), "application/zip")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.metric and at.session_state["model"].startswith(str(upload_dir / at.session_state["upload_scope"]))
    other = _page("explore", UPLOAD)  # a second browser session
    other.file_uploader(key="model_upload").set_value(("gpt.zip", _model_zip(), "application/zip")).run()
    assert other.session_state["model"] != at.session_state["model"]

    remote, canaries = remote_code_folder(tmp_path)
    evil = make_zip({p.name: p.read_bytes() for p in remote.iterdir()})
    bad = _page("explore", UPLOAD)
    bad.file_uploader(key="model_upload").set_value(("evil.zip", evil, "application/zip")).run()
    assert not bad.exception and bad.error and "never runs code" in bad.error[0].value
    assert not any(c.exists() for c in canaries)
    assert not list(upload_dir.rglob("*.py"))


def _crc_corrupt_zip() -> bytes:
    """A model zip whose deflated weights are damaged in the middle (what a broken download gives)."""
    data = bytearray(_model_zip())
    start = data.find(b"model.safetensors") + 200
    data[start:start + 64] = bytes(64)
    return bytes(data)


def test_corrupt_zip_is_one_message_and_leaves_nothing(upload_dir):
    from prune_core.uploads import save_upload

    with pytest.raises(PruneScopeError, match=r"'model.safetensors' in the upload cannot be read \(Error -3 while "
                                              "decompressing data"):
        save_upload([("gpt.zip", _crc_corrupt_zip())], "session1")
    assert not [p for p in upload_dir.rglob("*") if p.is_file()]
    from pages.ui.picker import UPLOAD

    at = _page("explore", UPLOAD)
    at.file_uploader(key="model_upload").set_value(("gpt.zip", _crc_corrupt_zip(), "application/zip")).run()
    assert not at.exception and at.error and "cannot be read" in at.error[0].value, [e.value for e in at.error]


def test_upload_names_are_cut_to_what_a_card_may_show(upload_dir):
    from prune_core.uploads import save_upload

    name = "a\x1b" + "b" * 300 + ".zip"
    card = load_model(str(save_upload([(name, _model_zip())], "session1").path)).card
    assert card.name == "a_" + "b" * 98 and len(card.source) < 400
