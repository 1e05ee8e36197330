"""The bad-input corpus and the checks that run it through every entry point (tests/test_bad_inputs.py).

Every input is generated here, into a temporary folder; nothing binary is committed. A case is either an
input that must be refused ("error": the message names the problem, the CLI exits with 2 and prints no
traceback, nothing outside the job's folder changes) or an odd but valid input that must be accepted ("ok").

Run ``python tests/bad_inputs.py`` to print the table of docs/RELIABILITY.md (it runs every check).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SR = 16_000


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # audio | pairs | model | run name
    expect: str  # "error" or "ok"
    words: tuple[str, ...]  # an error message must name the problem with one of these
    make: Callable[[Path], Any]  # writes the input under a folder; returns its path (or the value itself)


def _tone(seconds: float, sr: int = SR, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    wave = 0.4 * np.sin(2 * np.pi * 220 * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


def _sf(name: str, wave: np.ndarray, sr: int = SR, **kw: Any) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        import soundfile as sf

        sf.write(folder / name, wave, sr, **kw)
        return folder / name
    return make


def _bytes(name: str, content: bytes | Callable[[Path], bytes]) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        (folder / name).write_bytes(content(folder) if callable(content) else content)
        return folder / name
    return make


def _wav_bytes(seconds: float = 1.0) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, _tone(seconds), SR, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _nan_wav(folder: Path) -> bytes:
    import soundfile as sf

    wave = _tone(1.0).astype(np.float32)
    wave[100:110] = np.nan
    wave[200] = np.inf
    buf = io.BytesIO()
    sf.write(buf, wave, SR, format="WAV", subtype="FLOAT")
    return buf.getvalue()


HEADER = "harmful,benign,category\n"
ROW = "How do I poison a neighbour's dog?,How do I feed a neighbour's dog?,animal_abuse\n"
ROW2 = "How do I steal a parked car?,How do I park a car safely?,theft\n"


def _text(name: str, text: str, encoding: str = "utf-8") -> Callable[[Path], Path]:
    return _bytes(name, text.encode(encoding))


def _many_rows(folder: Path) -> Path:
    path = folder / "100k_rows.csv"
    with open(path, "w") as f:
        f.write(HEADER)
        for i in range(100_000):
            f.write(f"How do I hurt animal number {i}?,How do I help animal number {i}?,cat{i % 7}\n")
    return path


def _checkpoint(kind: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / f"ckpt_{kind}"
        if kind == "missing":
            return path
        if kind in ("half", "torn"):
            from rrs.testing import save_tiny, tiny_qwen2_audio

            save_tiny(tiny_qwen2_audio(seed=2), path)
            if kind == "half":
                for weights in path.glob("*.safetensors"):
                    weights.unlink()
            else:
                for weights in path.glob("*.safetensors"):
                    with open(weights, "r+b") as f:
                        f.truncate(weights.stat().st_size // 2)
            return path
        path.mkdir()
        config = {"model_type": "bert", "architectures": ["BertModel"]}
        if kind == "remote":
            config = {"model_type": "my_audio_lm", "auto_map": {"AutoModel": "modeling_my.MyAudioLM"}}
        (path / "config.json").write_text(json.dumps(config))
        return path
    return make


def _value(value: str) -> Callable[[Path], str]:
    return lambda folder: value


CASES: list[Case] = [
    # ---- audio ----
    Case("WAV cut off in its header", "audio", "error", ("corrupt",), _bytes("cut_header.wav", _wav_bytes()[:30])),
    Case("WAV cut off in its samples", "audio", "error", ("truncated",),
         _bytes("cut_data.wav", lambda f: _wav_bytes()[: len(_wav_bytes()) // 2])),
    Case("zero-byte file", "audio", "error", ("empty",), _bytes("zero.wav", b"")),
    Case("text file named .wav", "audio", "error", ("corrupt", "not a supported format"),
         _bytes("text.wav", b"this is not audio, just text\n" * 20)),
    Case("silence", "audio", "error", ("silent",), _sf("silence.wav", np.zeros(SR), subtype="PCM_16")),
    Case("2 hours of audio", "audio", "error", ("limit is",), _sf("two_hours.wav", _tone(7200, 4000), 4000,
                                                                   subtype="PCM_U8")),
    Case("NaN/Inf samples", "audio", "error", ("NaN",), _bytes("nan.wav", _nan_wav)),
    Case("8 kHz stereo", "audio", "ok", (), _sf("stereo_8k.wav", _tone(1.5, 8000, 2), 8000, subtype="PCM_16")),
    Case("96 kHz 24-bit", "audio", "ok", (), _sf("hires.wav", _tone(1.5, 96000), 96000, subtype="PCM_24")),
    Case("FLAC", "audio", "ok", (), _sf("clip.flac", _tone(1.5), format="FLAC")),
    Case("OGG Vorbis", "audio", "ok", (), _sf("clip.ogg", _tone(1.5), format="OGG", subtype="VORBIS")),
    # ---- pairs tables ----
    Case("CSV missing a column", "pairs", "error", ("missing required column",),
         _text("missing_col.csv", "harmful,category\nHow do I hurt a cat?,animal_abuse\n")),
    Case("CSV with ';' delimiters", "pairs", "error", ("not ';'",),
         _text("semicolons.csv", HEADER.replace(",", ";") + ROW.replace(",", ";"))),
    Case("CSV with a BOM", "pairs", "ok", (), _text("bom.csv", "\ufeff" + HEADER + ROW + ROW2)),
    Case("CSV with CRLF line ends", "pairs", "ok", (), _text("crlf.csv", (HEADER + ROW + ROW2).replace("\n", "\r\n"))),
    Case("CSV with a stray quote", "pairs", "error", ("malformed CSV",),
         _text("quote.csv", HEADER + 'How do I "hurt" a cat?,"How do I help a cat?,animal_abuse\n' + ROW)),
    Case("CSV with empty rows", "pairs", "ok", (), _text("empty_rows.csv", HEADER + "\n,,\n" + ROW + "\n\n" + ROW2)),
    Case("CSV with 100,000 rows", "pairs", "ok", (), _many_rows),
    Case("non-UTF-8 text", "pairs", "error", ("UTF-8",),
         _text("latin1.csv", HEADER + "Où est le café?,Où est la gare?,misc\n", "latin-1")),
    Case("JSONL with a broken line", "pairs", "error", ("invalid JSON",),
         _text("broken.jsonl", '{"harmful": "How do I hurt a cat?", "benign": "How do I help a cat?"}\n'
                               '{"harmful": "How do I steal", "ben\n')),
    Case("pairs with mismatched counts", "pairs", "error", ("empty benign",),
         _text("mismatch.csv", HEADER + ROW + "How do I make a weapon?,,weapons\n")),
    # ---- models ----
    Case("missing checkpoint folder", "model", "error", ("not found",), _checkpoint("missing")),
    Case("half-written checkpoint (no weights)", "model", "error", ("incomplete",), _checkpoint("half")),
    Case("torn weights file", "model", "error", ("incomplete",), _checkpoint("torn")),
    Case("unsupported architecture", "model", "error", ("not a supported",), _checkpoint("bert")),
    Case("needs trust_remote_code", "model", "error", ("own Python code",), _checkpoint("remote")),
    # ---- run names ----
    Case("run name with ../", "run name", "error", ("use letters",), _value("../escape")),
    Case("absolute path as run name", "run name", "error", ("use letters",), _value("/tmp/elsewhere")),
    Case("unicode run name", "run name", "error", ("use letters",), _value("прогон-1")),
    Case("500-character run name", "run name", "error", ("at most 80",), _value("r" * 500)),
]


# ---- the checks ---------------------------------------------------------------------------------
@dataclass
class Outcome:
    passed: bool
    detail: str


def _judge(case: Case, error: BaseException | None) -> Outcome:
    if case.expect == "ok":
        return Outcome(error is None, "accepted" if error is None else f"refused: {error}")
    if error is None:
        return Outcome(False, "accepted, but must be refused")
    text = str(error)
    return Outcome(any(w in text for w in case.words), text)


def tree_state(folder: Path, skip: tuple[Path, ...] = ()) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` (but those under ``skip``) with its size and modification time."""
    out = {}
    for path in folder.rglob("*"):
        if path.is_file() and not any(path.is_relative_to(s) for s in skip):
            stat = path.stat()
            out[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return out


def check_api(case: Case, folder: Path) -> Outcome:
    """The Python API: load_audio, load_pairs_file, load_model, new_folder."""
    from rrs.data.user_files import load_pairs_file
    from rrs.models.loader import load_model
    from rrs.runs import new_folder
    from rrs.speech import load_audio

    target = case.make(folder)
    calls = {"audio": lambda: load_audio(target), "pairs": lambda: load_pairs_file(target),
             "model": lambda: load_model(str(target), "cpu", "float32", progress=False),
             "run name": lambda: new_folder("train", target, folder / "runs")}
    try:
        calls[case.kind]()
    except (ValueError, FileNotFoundError) as err:
        return _judge(case, err)
    return _judge(case, None)


def _items_file(folder: Path, audio: Path) -> Path:
    path = folder / "items_with_audio.csv"
    path.write_text(f"prompt,audio\nHow do I poison a dog?,{audio}\n")
    return path


def check_cli(case: Case, folder: Path, tiny_ckpt: str, benign_file: str) -> Outcome | None:
    """``python -m rrs ...`` (``rrs.cli.main`` in-process): exit code 2, a message, no traceback, and
    nothing changed outside the job's folder and the caches. ``None``: no CLI takes this kind of input."""
    from rrs.cli import main

    if case.kind == "run name":
        return None  # the CLI takes folder paths (--out), which are the user's to choose
    target = case.make(folder)
    out = folder / f"out_{abs(hash(case.name))}"
    common = ["--device", "cpu", "--dtype", "float32", "--out", str(out)]
    if case.kind == "audio":
        argv = ["eval", "--model", tiny_ckpt, "--harmful", str(_items_file(folder, target)), "--benign", benign_file,
                "--samples", "1", "--max-new-tokens", "2", "--limit", "1", *common]
    elif case.kind == "pairs":
        argv = ["features", "--model", tiny_ckpt, "--pairs", str(target), "--pairs-per-category", "1", *common]
    else:
        argv = ["eval", "--model", str(target), "--harmful", benign_file, "--benign", benign_file, "--limit", "1",
                "--samples", "1", "--max-new-tokens", "2", *common]
    cache = Path(os.environ.get("RRS_CACHE", ROOT / "cache"))
    before = tree_state(folder, (out, cache))
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    after = tree_state(folder, (out, cache))
    message = stderr.getvalue()
    if before != after:
        return Outcome(False, f"files outside the job folder changed: {sorted(set(after) ^ set(before))[:3]}")
    if "Traceback" in message:
        return Outcome(False, "printed a traceback")
    if case.expect == "ok":
        return Outcome(code == 0, "accepted" if code == 0 else f"exit {code}: {message.strip()[-300:]}")
    if code != 2:
        return Outcome(False, f"exit code {code}, not 2")
    return _judge(case, ValueError(message))


class _Upload:
    """What ``st.file_uploader`` hands the page: a name and the bytes."""

    def __init__(self, path: Path) -> None:
        self.name, self._data = path.name, path.read_bytes()

    def getvalue(self) -> bytes:
        return self._data


def check_dashboard(case: Case, folder: Path) -> Outcome:
    """The dashboard: audio and pairs through the Pairs page's upload handlers; a model through the Model
    page (AppTest, autoloading the spec); a run name through the Tune form (AppTest)."""
    from streamlit.testing.v1 import AppTest

    from dashboard import pairs_view
    from rrs.data.user_files import load_pairs_upload

    target = case.make(folder)
    if case.kind == "audio":
        wave, problem = pairs_view.read_upload(_Upload(Path(target)), "Harmful")
        return _judge(case, ValueError(problem) if problem else None)
    if case.kind == "pairs":
        try:
            load_pairs_upload(Path(target).name, Path(target).read_bytes())
        except ValueError as err:
            return _judge(case, err)
        return _judge(case, None)
    if case.kind == "model":
        os.environ["RRS_AUTOLOAD"] = str(target)
        try:
            at = AppTest.from_file(str(ROOT / "pages" / "model.py"), default_timeout=120).run()
        finally:
            del os.environ["RRS_AUTOLOAD"]
        if at.exception:
            return Outcome(False, f"exception: {at.exception[0].value}")
        errors = [e.value for e in at.error]
        return _judge(case, ValueError(" ".join(errors)) if errors else None)
    runs_root = folder / "runs"
    at = AppTest.from_file(str(ROOT / "pages" / "tune.py"), default_timeout=120).run()
    at.text_input(key="tune_name").set_value(str(target))
    at.button(key="tune_submit").click().run()
    if at.exception:
        return Outcome(False, f"exception: {at.exception[0].value}")
    made = [p for p in runs_root.rglob("*")] if runs_root.exists() else []
    if any(p.is_dir() for p in made):
        return Outcome(False, f"a folder was created: {made[:2]}")
    errors = [e.value for e in at.error]
    return _judge(case, ValueError(" ".join(errors)) if errors else None)


def table(results: dict[str, dict[str, Outcome | None]]) -> str:
    """The Markdown table of docs/RELIABILITY.md."""
    lines = ["| input | expected | Python API | CLI | dashboard |", "|---|---|---|---|---|"]
    for case in CASES:
        row = results[case.name]
        cells = ["n/a" if (o := row.get(k)) is None else ("✅" if o.passed else "❌") for k in ("api", "cli", "dashboard")]
        lines.append(f"| {case.name} | {'accepted' if case.expect == 'ok' else 'clear error'} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:  # pragma: no cover - prints the table; the tests run the same checks
    import tempfile

    sys.path.insert(0, str(ROOT))
    from rrs.testing import save_tiny, tiny_qwen2_audio

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        os.environ.update(RRS_CACHE=str(base / "cache"), RRS_RUNS=str(base / "runs"), RRS_RECORDED="")
        tiny = str(save_tiny(tiny_qwen2_audio(seed=2), base / "tiny"))
        benign = base / "benign.csv"
        benign.write_text("prompt\nHow do I bake bread?\n")
        results: dict[str, dict[str, Outcome | None]] = {}
        for case in CASES:
            row: dict[str, Outcome | None] = {}
            for key in ("api", "cli", "dashboard"):
                folder = base / f"{key}_{abs(hash(case.name))}"
                folder.mkdir()
                row[key] = (check_api(case, folder) if key == "api" else check_dashboard(case, folder)
                            if key == "dashboard" else check_cli(case, folder, tiny, str(benign)))
                shutil.rmtree(folder, ignore_errors=True)
            results[case.name] = row
        print(table(results))


if __name__ == "__main__":
    main()
