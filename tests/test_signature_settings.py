"""The run signature says how a number was obtained: every setting enters it, and ``mode`` is
``compatible`` only when all of them are the protocol's.

The settings are enumerated, not listed: every field of ScoreConfig (``dataclasses.fields``) and
every Renderer keyword argument. A setting added later without being declared as ScoreConfig's
docstring says fails here.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import typing
from pathlib import Path

import pytest

from markupeval.formats import read_gold, read_predictions
from markupeval.rendering.renderer import EXECUTION_OPTIONS, Renderer, RenderSettings
from markupeval.scoring import ScoreConfig, run_signature, score
from markupeval.stats.runs import read_run

PROTOCOL = ScoreConfig(images=False)

#: A non-protocol value for each pixel-changing render setting (bools are flipped automatically).
#: A new RenderSettings field needs an entry here, and must then change ``mode``.
RENDER_ALTERNATIVES = {
    "template": "dataset",
    "rewrites": "minimal",
    "rasterizer": "pdfium",
    "dpi": 300,
    "timeout": 3.0,
    "max_chars": 500,
    "input_stack": 1000,
}


def _alternatives(f: dataclasses.Field, hint: object, default: object) -> list:
    if "examples" in f.metadata:
        return list(f.metadata["examples"])
    if hint is bool:
        return [not default]
    if typing.get_origin(hint) is typing.Literal:
        return [v for v in typing.get_args(hint) if v != default]
    pytest.fail(f"ScoreConfig.{f.name}: not bool or Literal; declare metadata={{'examples': (...)}} (see its docstring)")


def _mode(sig) -> str:
    return sig.as_dict()["mode"]


def _setting_cases() -> list:
    hints = typing.get_type_hints(ScoreConfig)
    cases = []
    for f in dataclasses.fields(ScoreConfig):
        if f.name == "render_options":
            continue
        for value in _alternatives(f, hints[f.name], getattr(PROTOCOL, f.name)):
            cases.append(pytest.param(f.name, value, id=f"{f.name}={value}"))
    return cases


def test_the_protocol_defaults_are_compatible() -> None:
    assert _mode(run_signature(PROTOCOL, "names", "jsonl")) == "compatible"
    assert _mode(run_signature(ScoreConfig(), "names", "jsonl")) == "compatible"


@pytest.mark.parametrize("name, value", _setting_cases())
def test_every_score_setting_enters_the_signature_and_mode(name: str, value: object) -> None:
    base = run_signature(PROTOCOL, "names", "jsonl")
    changed = run_signature(dataclasses.replace(PROTOCOL, **{name: value}), "names", "jsonl")
    field = next(f for f in dataclasses.fields(ScoreConfig) if f.name == name)
    protocol_values = field.metadata.get("protocol", (field.default,))
    assert str(changed) != str(base), f"{name}={value!r} leaves the signature unchanged"
    if value in protocol_values:
        assert _mode(changed) == "compatible"  # declared as one of the protocol's own values
    else:
        assert _mode(changed).startswith("custom:") and name in _mode(changed).split(":", 1)[1].split("+")


def test_every_renderer_argument_is_a_setting_or_declared_an_execution_option() -> None:
    arguments = set(inspect.signature(Renderer.__init__).parameters) - {"self"}
    settings = {f.name for f in dataclasses.fields(RenderSettings)}
    assert arguments == settings | EXECUTION_OPTIONS, "classify the new Renderer argument"
    assert not settings & EXECUTION_OPTIONS
    assert set(RENDER_ALTERNATIVES) | {f.name for f in dataclasses.fields(RenderSettings) if f.type in (bool, "bool")} == settings


def _render_cases() -> list:
    cases = []
    for f in dataclasses.fields(RenderSettings):
        value = RENDER_ALTERNATIVES.get(f.name, not f.default if f.type in (bool, "bool") else None)
        cases.append(pytest.param(f.name, value, id=f"{f.name}={value}"))
    return cases


@pytest.mark.parametrize("name, value", _render_cases())
def test_every_render_setting_enters_the_signature_and_mode(name: str, value: object) -> None:
    images = ScoreConfig(render_options={})
    base = run_signature(images, "names", "jsonl")
    changed = run_signature(ScoreConfig(render_options={name: value}), "names", "jsonl")
    assert str(changed) != str(base), f"render option {name}={value!r} leaves the signature unchanged"
    assert _mode(changed).startswith("custom:") and name in _mode(changed).split(":", 1)[1].split("+")


@pytest.mark.parametrize("name, value", [("workers", 1), ("chunk_size", 7), ("cache", False), ("progress", True)])
def test_execution_options_change_neither_signature_nor_mode(name: str, value: object) -> None:
    assert name in EXECUTION_OPTIONS
    assert str(run_signature(ScoreConfig(render_options={name: value}), "names", "jsonl")) == str(
        run_signature(ScoreConfig(), "names", "jsonl"))


def test_the_signature_holds_settings_not_counts(tmp_path: Path) -> None:
    # Two inputs of different sizes and outcomes, scored with the same settings: same signature.
    sigs = []
    for n in (2, 5):
        gold = tmp_path / f"g{n}.txt"
        names = tmp_path / f"n{n}.txt"
        preds = tmp_path / f"p{n}.jsonl"
        gold.write_text("".join(f"x _ {i}\n" for i in range(n)), encoding="utf-8")
        names.write_text("".join(f"{i}.png\n" for i in range(n)), encoding="utf-8")
        preds.write_text(json.dumps({"image": "0.png", "prediction": "x _ 0"}) + "\n", encoding="utf-8")
        run = score(read_predictions(preds), read_gold(gold, names=names), PROTOCOL)
        assert str(run.signature) == str(run_signature(PROTOCOL, "names", "jsonl"))
        assert run.counts["missing"] == n - 1  # outcomes are counts
        sigs.append(str(run.signature))
    assert sigs[0] == sigs[1]
    assert not any(str(v) in ("1", "4") for v in run.signature.as_dict().values())


def _v1_run(tmp_path: Path, signature: str) -> Path:
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"markupeval_version": "0.1.0", "name": "old", "metrics": {"bleu": 50.0},
                                "counts": {"gold": 3}, "signature": signature, "stat_names": {}, "samples": []}))
    return path


def test_an_older_run_file_is_upgraded_and_says_what_changed(tmp_path: Path, caplog) -> None:
    old = ("mode:compatible|gold:norm|gold_src:names|template:im2markup@abc|rewrites:im2latex_compatible|"
           "rasterizer:pdfium|dpi:200|ink:any-coverage|tex_errors:render|timeout:3s|gold_render_failed:5|version:0.1.0")
    with caplog.at_level("WARNING", logger="markupeval"):
        run = read_run(_v1_run(tmp_path, old))
    assert run.signature == ("mode:custom:rasterizer+timeout|gold:norm|gold_src:names|template:im2markup@abc|"
                             "rewrites:im2latex_compatible|rasterizer:pdfium|dpi:200|ink:any-coverage|"
                             "tex_errors:render|timeout:3s|version:0.1.0")
    assert run.counts == {"gold": 3, "gold_render_failed": 5}
    said = " ".join(run.upgrade_notes)
    assert "format 1" in said and "gold_render_failed" in said and "mode recomputed" in said
    assert "format 1" in caplog.text


def test_a_newer_run_file_is_refused_with_a_message(tmp_path: Path) -> None:
    from markupeval.errors import InputError

    path = tmp_path / "new.json"
    path.write_text(json.dumps({"run_format": 99, "metrics": {}, "signature": ""}))
    with pytest.raises(InputError, match="newer markupeval"):
        read_run(path)


def test_a_current_run_file_round_trips_without_upgrade(tmp_path: Path) -> None:
    gold, names, preds = tmp_path / "g.txt", tmp_path / "n.txt", tmp_path / "p.jsonl"
    gold.write_text("a\n", encoding="utf-8")
    names.write_text("a.png\n", encoding="utf-8")
    preds.write_text('{"image": "a.png", "prediction": "a"}\n', encoding="utf-8")
    run = score(read_predictions(preds), read_gold(gold, names=names), PROTOCOL)
    run.save(tmp_path / "run.json")
    view = read_run(tmp_path / "run.json")
    assert view.raw["run_format"] == 2 and view.upgrade_notes == [] and view.signature == str(run.signature)
