"""`mutualsense doctor` says where the compiled host-stage kernels are cached, and what to do when nowhere can."""

from __future__ import annotations

from pathlib import Path

from mutualsense.doctor import check_environment
from mutualsense.doctor.probes import kernel_cache_folder


def test_numba_order_cache_dir_then_the_package_then_the_users_cache(tmp_path: Path) -> None:
    package, home, blocker = tmp_path / "pkg", tmp_path / "home", tmp_path / "a-file"
    package.mkdir()
    home.mkdir()
    blocker.write_text("x")  # nothing can be created below a regular file, even by root
    read_only_package = blocker / "pkg"
    assert kernel_cache_folder({"NUMBA_CACHE_DIR": str(tmp_path / "nb")}, package) == tmp_path / "nb"
    assert kernel_cache_folder({"NUMBA_CACHE_DIR": str(blocker / "nb")}, package) == package / "__pycache__"
    assert kernel_cache_folder({"HOME": str(home)}, package) == package / "__pycache__"
    assert kernel_cache_folder({"HOME": str(home)}, read_only_package) == home / ".cache" / "numba"
    assert kernel_cache_folder({"XDG_CACHE_HOME": str(tmp_path / "x")}, read_only_package) == tmp_path / "x" / "numba"


def test_nowhere_writable_is_none(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")  # nothing can be created below a regular file, even by root
    env = {"NUMBA_CACHE_DIR": str(blocker / "nb"), "XDG_CACHE_HOME": str(blocker / "cache")}
    assert kernel_cache_folder(env, blocker / "pkg") is None


def test_the_doctor_row(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "kernels"))
    row = {c.name: c for c in check_environment()}["numba (host-stage kernels)"]
    assert row.ok and row.required and str(tmp_path / "kernels") in row.detail


def test_the_doctor_row_without_a_cache_folder_says_what_to_set(monkeypatch) -> None:
    from mutualsense.doctor import probes

    monkeypatch.setattr(probes, "kernel_cache_folder", lambda: None)
    row = {c.name: c for c in check_environment()}["numba (host-stage kernels)"]
    assert not row.ok and not row.required  # the stream still runs, compiling at every start
    assert "compile at every start" in row.detail and row.hint == "set NUMBA_CACHE_DIR to a writable folder"
