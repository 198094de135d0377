"""The repair loop end to end against a real HTTP server on 127.0.0.1: a syntax error, a type error, a
goal that fires on the key (verification fails), then the right program: verified in round 4. Then
the same session replayed offline, byte for byte."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from carc.cli.main import main
from carc.core.files import OutputError
from carc.core.resources import example_path
from carc.generate.images import decode_png, pixel_digest
from carc.generate.scripted import Scripted, ScriptedServer, repair_script
from carc.generate.transcript import load_transcript

ENV = "MiniGrid-DoorKey-5x5-v0"
FAST = ["--episodes", "5", "--random-episodes", "20", "--examples", "5"]


@pytest.fixture(scope="module")
def repaired(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Any], int, dict[str, Any]]:
    out = tmp_path_factory.mktemp("generate") / "out"
    usage = {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}
    with ScriptedServer([Scripted(text=t, usage=usage) for t in repair_script()]) as server:
        code = main(["generate", "--env", ENV, "--model", "scripted", "--base-url", server.base_url, "--api-key-env", "CARC_UNSET_KEY",
                     "--out", str(out), *FAST])
    return out, server.seen, code, json.loads((out / "summary.json").read_text())


def _last_user_text(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else content[0]["text"]


def test_four_rounds_reach_a_verified_program(repaired: tuple[Path, list[Any], int, dict[str, Any]]) -> None:
    out, seen, code, summary = repaired
    assert code == 0 and summary["verified"] and summary["reason"] is None
    assert [r["stage"] for r in summary["rounds"]] == ["check", "check", "verify", "verified"]
    assert (out / "program.car").read_bytes() == example_path("minigrid/doorkey.car").read_bytes()
    assert summary["chosen"] == {"candidate": 1, "round": 4, "stage": "verified"}
    assert [d["code"] for d in summary["rounds"][0]["diagnostics"]] == ["E207"]
    assert [d["code"] for d in summary["rounds"][1]["diagnostics"]] == ["E401"]
    failed = summary["rounds"][2]["verification"]
    assert not failed["passed"] and failed["goal_agreement"]["steps"]["recall"] == 0.0
    assert summary["rounds"][3]["verification"]["passed"]
    totals = summary["totals"]
    assert totals["vlm_calls"] == 4 and len(seen) == 4
    assert totals["prompt_tokens"] == 4000 and totals["completion_tokens"] == 400
    assert all(set(r["carc_stages_s"]) == {"check_audit", "compile", "verify"} for r in summary["rounds"][2:])


def test_each_follow_up_carries_the_previous_rounds_diagnostics(repaired: tuple[Path, list[Any], int, dict[str, Any]]) -> None:
    _, seen, _, _ = repaired
    second, third, fourth = (_last_user_text(s.body) for s in seen[1:])
    assert "program.car:10:87: error[E207]: '=' defines a name; compare with '=='" in second
    assert "locked(yellow_door_inside) = false" in second and "^" in second
    assert "program.car:9:64: error[E401]: the operand of 'not' must be bool, not region" in third
    assert "Verification FAILED on MiniGrid-DoorKey-5x5-v0: 5 expert episodes" in fourth
    assert "the goal check is false when the environment reports success in 100% of successful expert episodes" in fourth
    assert 'at_goal "reach the target": expert 100%' in fourth and "recall 0%" in fourth
    for before, after in zip(seen, seen[1:]):  # the whole conversation so far, then the reply and the feedback
        assert after.body["messages"][: len(before.body["messages"])] == before.body["messages"]


def test_every_request_carries_both_images(repaired: tuple[Path, list[Any], int, dict[str, Any]]) -> None:
    out, seen, _, _ = repaired
    header = load_transcript(out).header
    expected = [header["images"]["start"]["sha256"], header["images"]["goal"]["sha256"]]
    for request in seen:
        urls = [part["image_url"]["url"] for message in request.body["messages"] if isinstance(message["content"], list)
                for part in message["content"] if part["type"] == "image_url"]
        digests = [pixel_digest(decode_png(base64.b64decode(url.split(",", 1)[1]), "image")) for url in urls]
        assert digests == expected


def test_replay_is_the_same_outcome_byte_for_byte(repaired: tuple[Path, list[Any], int, dict[str, Any]], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out, _, _, summary = repaired
    capsys.readouterr()
    assert main(["generate", "--replay", str(out), "--out", str(tmp_path), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    for name in ("program.car", "transcript.jsonl"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes()

    def timeless(s: dict[str, Any]) -> dict[str, Any]:
        rounds = [{k: v for k, v in r.items() if not k.endswith("_s")} for r in s["rounds"]]
        return {**{k: v for k, v in s.items() if k not in ("totals", "backend", "out")}, "rounds": rounds}

    assert timeless(again) == timeless(summary) and again["backend"] == "replay"


def test_replay_of_a_request_it_lacks_is_a_clear_error(repaired: tuple[Path, list[Any], int, dict[str, Any]], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = repaired[0]
    with pytest.raises(SystemExit) as exited:
        main(["generate", "--replay", str(out / "transcript.jsonl"), "--out", str(tmp_path), "--env", "MiniGrid-DoorKey-6x6-v0"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert exited.value.code == 2
    assert err.startswith("carc: error: replay: the request for candidate 1 round 1 (sha256 ") and "is not in" in err
    assert "message 2 (user) differs near" in err and "DoorKey-6x6" in err


def test_candidates_are_independent_conversations_and_replay_duplicates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ScriptedServer([Scripted(text="no program, first"), Scripted(text="no program, second")]) as server:
        code = main(["generate", "--env", ENV, "--base-url", server.base_url, "--api-key-env", "CARC_UNSET_KEY", "--out", str(tmp_path / "a"),
                     "--rounds", "1", "--candidates", "2", "--json", *FAST])
    first = json.loads(capsys.readouterr().out)
    assert code == 1 and [(r["candidate"], r["round"]) for r in first["rounds"]] == [(1, 1), (2, 1)]
    assert server.seen[0].body == server.seen[1].body  # the same first request, asked twice
    assert main(["generate", "--replay", str(tmp_path / "a"), "--out", str(tmp_path / "b"), "--json"]) == 1
    assert (tmp_path / "b" / "transcript.jsonl").read_bytes() == (tmp_path / "a" / "transcript.jsonl").read_bytes()
    assert "second" in (tmp_path / "b" / "transcript.jsonl").read_text()


@pytest.mark.slow
def test_bundled_transcript_replays_to_a_verified_program(tmp_path: Path) -> None:
    from carc.generate import replay_bundled

    result = replay_bundled(tmp_path)
    assert result.outcome.verified and [r.evaluation.stage for r in result.outcome.rounds] == ["check", "check", "verify", "verified"]
    assert (tmp_path / "program.car").read_bytes() == example_path("minigrid/doorkey.car").read_bytes()
    with pytest.raises(OutputError, match="is not empty"):  # the first run's transcript is kept...
        replay_bundled(tmp_path)
    assert replay_bundled(tmp_path, force=True).outcome.verified  # ...unless asked (carc demo, run again)


def test_a_tile_that_would_blow_up_the_frames_is_feedback_not_a_recording(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    huge = example_path("minigrid/doorkey.car").read_text().replace("observe rgb tile 8", "observe rgb tile 256")
    with ScriptedServer([Scripted(text=f"```carc\n{huge}```\n")]) as server:
        code = main(["generate", "--env", ENV, "--base-url", server.base_url, "--api-key-env", "CARC_UNSET_KEY", "--out", str(tmp_path),
                     "--rounds", "1", "--json", *FAST])
    summary = json.loads(capsys.readouterr().out)
    assert code == 1 and summary["rounds"][0]["stage"] == "verify" and summary["totals"]["recording_s"] == 0.0
    assert summary["files"]["candidate"] == "candidate.car" and (tmp_path / "candidate.car").read_text() == huge
