"""Files that appear whole or not at all."""
import pytest

from models.atomic_file import replaced_atomically


def test_the_new_file_replaces_the_old_only_when_written(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with replaced_atomically(target) as temporary:
        # Beside the target (a rename within one folder cannot cross file systems), hidden, and not the target.
        assert temporary.parent == tmp_path and temporary.name.startswith(".") and temporary != target
        temporary.write_text("new")
        assert target.read_text() == "old"
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_an_error_keeps_the_old_file_and_leaves_nothing_behind(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with replaced_atomically(target) as temporary:
            temporary.write_text("half")
            raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
