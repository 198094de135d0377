"""Generation: the language card, the prompt, reply extraction, feedback, transcripts, and the openai
backend against a real HTTP server on 127.0.0.1 (carc.generate.scripted) — errors, retries, caps,
the key never written anywhere, --dry-run calling nothing."""

from __future__ import annotations

import base64
import json
import re
import socket
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from carc.cli.main import main
from carc.core.resources import example_path, grammar_text
from carc.generate.backends import BackendError, OpenAIBackend, OpenAIOptions, public_url
from carc.generate.card import language_card, signature
from carc.generate.feedback import extract_program, verification_feedback
from carc.generate.images import decode_png, pixel_digest
from carc.generate.messages import ChatRequest, Message
from carc.generate.prompt import EXAMPLE_TASKS, TaskFacts, first_messages, system_text, worked_examples
from carc.generate.run import RERECORD, bundled_transcript, task_facts
from carc.generate.scripted import Scripted, ScriptedServer
from carc.generate.settings import GenerateSettings
from carc.generate.transcript import TranscriptError, load_transcript
from carc.lang.builtins import BUILTINS, TYPE_NAMES
from carc.verify.report import Agreement, PropertyResult, SubtaskRow, VerifyConfig, VerifyReport

ENV = "MiniGrid-DoorKey-5x5-v0"
KEY = "sk-test-SECRET-0123456789abcdef"


# ---- the card and the prompt ---------------------------------------------------------------------


def test_card_lists_every_builtin_signature_and_doc() -> None:
    card = language_card()
    missing = [f"{name}: {signature(name, sig)}" for name, sigs in BUILTINS.items() for sig in sigs
               if f"`{signature(name, sig)}`: {sig.doc}" not in card]
    assert not missing, f"built-ins missing from the language card: {missing}"


def test_card_carries_the_grammar_types_and_keywords() -> None:
    card = language_card()
    assert grammar_text().strip() in card
    assert all(f"`{name}`" in card for name in TYPE_NAMES)
    for keyword in ("subtask", "bonus", "shaping", "observe", "group"):
        assert keyword in card.split("Keywords (do not use them as names):")[1].split("\n")[0]
    assert "let box = ..." in card  # the clash the issue saw a model make


def test_every_bundled_example_is_registered_with_its_task() -> None:
    root = Path(__file__).resolve().parent.parent / "examples"
    bundled = {str(p.relative_to(root)) for p in root.rglob("*.car") if p.parent.name not in ("wrong",) and "transcripts" not in p.parts}
    assert bundled == {path for path, _ in EXAMPLE_TASKS}


@pytest.mark.parametrize("env_id", ["MiniGrid-DoorKey-5x5-v0", "MiniGrid-DoorKey-8x8-v0", "MiniGrid-Unlock-v0", "MiniGrid-UnlockPickup-v0",
                                    "MiniGrid-KeyCorridorS3R2-v0", "MiniGrid-BlockedUnlockPickup-v0", "PandaPush-v3", "PandaReach-v3"])
def test_worked_examples_never_show_the_task_itself(env_id: str) -> None:
    shown = [path for path, _ in worked_examples(env_id)]
    assert 1 <= len(shown) <= 2
    own = [path for path, prefix in EXAMPLE_TASKS if env_id.startswith(prefix)]
    text = system_text(TaskFacts(env_id, None, None))
    assert len(own) == 1
    for path in own:
        assert path not in shown
        assert example_path(path).read_text().strip() not in text


def test_system_prompt_has_the_family_module_and_answer_format() -> None:
    text = system_text(TaskFacts("PandaPush-v3", None, None, 0.9, 0.2))
    assert "on at least 90% of expert episodes" in text and "in under 20%" in text
    assert "use panda" in text and "color green = rgb(21, 199, 21)" in text
    assert "```carc" in text and "never" in text.split("## Answer format")[1]


# ---- extraction ------------------------------------------------------------------------------------


def test_extract_takes_the_last_carc_block() -> None:
    reply = "Analysis.\n```carc\nprogram a \"1\"\n```\nOops, fixed:\n```carc\nprogram b \"2\"\n```\n"
    assert extract_program(reply).text == 'program b "2"\n'


def test_extract_untagged_block_and_bare_program() -> None:
    assert extract_program('```\nprogram u "x"\nobserve rgb\n```').text == 'program u "x"\nobserve rgb\n'
    assert extract_program('program bare "x"\nobserve rgb').text == 'program bare "x"\nobserve rgb\n'
    assert extract_program('text\n```carc\nprogram cut "x"\nobserve rgb').text == 'program cut "x"\nobserve rgb'


def test_python_reply_is_refused_in_words() -> None:
    result = extract_program("Here you go:\n```python\nimport cv2\nprint('hi')\n```\n")
    assert result.text is None and "python" in (result.problem or "") and "never runs Python" in (result.problem or "")


def test_reply_without_block() -> None:
    assert extract_program("I think the agent should get the key.").problem == "Your reply has no fenced ```carc block with a program."
    assert extract_program("   ").problem == "Your reply was empty."


@given(st.text(max_size=400))
def test_extraction_never_raises(reply: str) -> None:
    result = extract_program(reply)
    assert (result.text is None) != (result.problem is None)


# ---- verification feedback ----------------------------------------------------------------------


def test_verification_feedback_names_subtasks_rates_agreement_and_properties() -> None:
    report = VerifyReport(
        "program.car", ENV, 5, 20, 0.6, 0.25, VerifyConfig(env_id=ENV),
        (SubtaskRow("got_key", "pick up the key", 1.0, 0.5, 3.0, 40.0), SubtaskRow("at_goal", "reach the goal", 0.6, 0.25, 9.0, None)),
        Agreement(0.5, 0.6, 3, 3, 2), Agreement(0.25, 0.6, 3, 9, 2),
        (PropertyResult("reward_in_bounds", False, 10, None, "reward 2.0 outside the bounds [0.0, 1.2]"),),
        ("expert play completes the task in only 60% of episodes (need 100%); sub-tasks short of it: at_goal",),
    )
    text = verification_feedback(report)
    assert "Verification FAILED" in text and "only 60% of episodes" in text
    assert 'at_goal "reach the goal": expert 60%, on average at step 9.0; random 25%' in text
    assert "got_key" in text and "random 50%, on average at step 40.0" in text
    assert "per frame: precision 25%: of the 12 frames where your goal held, 3 were ones the environment calls solved" in text
    assert "recall 60%: of the 5 frames the environment calls solved, your goal held on 3" in text
    assert "reward_in_bounds: reward 2.0 outside the bounds [0.0, 1.2]" in text
    assert "'at_goal' is the first sub-task that expert play does not always complete (60%)" in text
    assert "Random play completes the task too often" in text


# ---- transcripts ---------------------------------------------------------------------------------


def test_bundled_transcript_matches_what_carc_asks_today() -> None:
    """If this fails, the prompt changed: re-record with `python -m carc.generate.scripted examples/transcripts/doorkey-5x5`."""
    recorded = load_transcript(bundled_transcript())
    assert "no model was involved" in recorded.header["made_by"]
    settings = GenerateSettings.from_json(recorded.header["settings"])
    facts = task_facts(settings, recorded.header["task"], recorded.header["tile"])
    first = first_messages(facts, recorded.images["start"], recorded.images["goal"])
    request = ChatRequest(settings.model, first, settings.temperature, settings.max_tokens)
    assert request.digest == recorded.exchanges[0].digest, f"the prompt changed: re-record with `{RERECORD}`"


def test_transcript_damage_is_refused(tmp_path: Path) -> None:
    source = bundled_transcript()
    lines = source.read_text().splitlines()
    (tmp_path / "images").mkdir()
    for image in (source.parent / "images").iterdir():
        (tmp_path / "images" / image.name).write_bytes(image.read_bytes())
    edited = json.loads(lines[1])
    edited["request"]["messages"][1]["content"][0]["text"] += " (edited)"
    (tmp_path / "transcript.jsonl").write_text("\n".join([lines[0], json.dumps(edited)]) + "\n")
    with pytest.raises(TranscriptError, match=r"transcript.jsonl:2: the request does not hash"):
        load_transcript(tmp_path)
    (tmp_path / "transcript.jsonl").write_text(lines[0] + "\n{not json\n")
    with pytest.raises(TranscriptError, match=r"transcript.jsonl:2: not JSON"):
        load_transcript(tmp_path)
    image = next((tmp_path / "images").iterdir())
    image.write_bytes(b"\x89PNG\r\n\x1a\nrubbish")
    (tmp_path / "transcript.jsonl").write_text(lines[0] + "\n")
    with pytest.raises(TranscriptError, match="unreadable PNG|do not hash"):
        load_transcript(tmp_path)


# ---- the openai backend over real HTTP ---------------------------------------------------------------


def _request(text: str = "hi") -> ChatRequest:
    return ChatRequest("scripted", (Message("user", text),), label="candidate 1 round 1")


def _backend(url: str, key: str | None = KEY, **options: float) -> OpenAIBackend:
    return OpenAIBackend(key, OpenAIOptions(base_url=url, **options))  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [429, 503])
def test_429_or_5xx_then_success_is_retried(status: int) -> None:
    script = [Scripted(text="slow down", status=status, headers=(("retry-after-ms", "20"),)), Scripted(text="done", usage={"prompt_tokens": 7})]
    with ScriptedServer(script) as server:
        reply = _backend(server.base_url, retries=2).complete(_request())
    assert reply.text == "done" and reply.usage == {"prompt_tokens": 7} and len(server.seen) == 2


def test_rate_limit_that_never_ends_is_one_clear_error() -> None:
    script = [Scripted(text="slow down", status=429, headers=(("retry-after-ms", "10"),))] * 3
    with ScriptedServer(script) as server, pytest.raises(BackendError, match=r"kept rate-limiting \(429\) after 2 retries: slow down"):
        _backend(server.base_url, retries=2).complete(_request())
    assert len(server.seen) == 3


def test_timeout_is_one_clear_error() -> None:
    with ScriptedServer([Scripted(text="late", delay_s=3.0)]) as server, \
            pytest.raises(BackendError, match=r"no reply from http://127\.0\.0\.1:\d+/v1 within 0\.3 s \(tried 1 times"):
        _backend(server.base_url, retries=0, timeout_s=0.3).complete(_request())


def test_ten_megabyte_reply_is_capped() -> None:
    with ScriptedServer([Scripted(text="big", pad_bytes=10 * 1024 * 1024)]) as server, \
            pytest.raises(BackendError, match=r"larger than 1,048,576 bytes"):
        _backend(server.base_url, retries=0).complete(_request())


@pytest.mark.parametrize("status,words", [(401, "refused the API key (401)"), (404, "has no model 'scripted'"), (500, "answered 500")])
def test_status_errors_name_the_problem_without_the_key(status: int, words: str) -> None:
    with ScriptedServer([Scripted(text="Incorrect API key provided: {key}", status=status)]) as server, \
            pytest.raises(BackendError) as caught:
        _backend(server.base_url, retries=0).complete(_request())
    message = str(caught.value)
    assert words in message and KEY not in message and "[redacted API key]" in message and "\n" not in message


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_unreachable_server() -> None:
    with pytest.raises(BackendError, match=r"cannot reach http://127\.0\.0\.1:\d+/v1"):
        _backend(_closed_port_url(), retries=0).complete(_request())


def test_public_url_drops_credentials() -> None:
    assert public_url("https://user:pw@example.com:8443/v1?x=1") == "https://example.com:8443/v1"


# ---- the command line ------------------------------------------------------------------------------


def _generate(tmp_path: Path, *args: str) -> list[str]:
    return ["generate", "--env", ENV, "--out", str(tmp_path / "out"), "--episodes", "5", "--random-episodes", "20", "--examples", "5", *args]


def test_unreachable_server_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARC_TEST_KEY", KEY)
    with pytest.raises(SystemExit) as exited:
        main(_generate(tmp_path, "--base-url", _closed_port_url(), "--api-key-env", "CARC_TEST_KEY", "--retries", "0"))
    err = capsys.readouterr().err.strip().splitlines()
    assert exited.value.code == 2 and err[-1].startswith("carc: error: cannot reach") and "Traceback" not in "\n".join(err)


def test_missing_key_for_openai_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CARC_NO_SUCH_KEY", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(_generate(tmp_path, "--api-key-env", "CARC_NO_SUCH_KEY"))
    assert exited.value.code == 2 and "set the environment variable CARC_NO_SUCH_KEY" in capsys.readouterr().err


def _files_text(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_echoed_key_lands_in_no_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARC_TEST_KEY", KEY)
    echo = "Your key is {key}.\n```carc\nprogram leak \"{key}\"\nobserve rgb\nsubtask s \"{key}\" bonus 1 : {key}\n```\n"
    with ScriptedServer([Scripted(text=echo), Scripted(text=echo)]) as server:
        code = main(_generate(tmp_path, "--base-url", server.base_url, "--api-key-env", "CARC_TEST_KEY", "--rounds", "2", "--json"))
    out = capsys.readouterr()
    assert code == 1 and server.seen[0].authorization == f"Bearer {KEY}"
    written = _files_text(tmp_path / "out")
    assert KEY.encode() not in written and KEY not in out.out + out.err
    assert b"[redacted API key]" in written
    summary = json.loads(out.out)
    assert [r["stage"] for r in summary["rounds"]] == ["check", "check"]


def test_python_and_blockless_replies_are_feedback_and_never_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "ran.txt"
    python = f"Sure:\n```python\nopen({str(marker)!r}, 'w').write('ran')\n```\n"
    with ScriptedServer([Scripted(text=python), Scripted(text="The agent should take the key."), Scripted(text=python)]) as server:
        code = main(_generate(tmp_path, "--base-url", server.base_url, "--api-key-env", "CARC_UNSET_KEY", "--rounds", "3", "--json"))
    summary = json.loads(capsys.readouterr().out)
    assert code == 1 and not marker.exists()
    assert [r["stage"] for r in summary["rounds"]] == ["reply", "reply", "reply"]
    assert summary["files"]["program"] is None and summary["files"]["candidate"] is None
    second, third = (s.body["messages"][-1]["content"] for s in server.seen[1:])
    assert "it has python code" in second and "never runs Python" in second
    assert "has no fenced ```carc block" in third


def test_dry_run_calls_nothing_and_writes_the_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ScriptedServer([Scripted(text="must not be asked")]) as server:
        code = main(["generate", "--dry-run", "--env", ENV, "--base-url", server.base_url, "--out", str(tmp_path), "--json"])
    sizes = json.loads(capsys.readouterr().out)
    assert code == 0 and server.seen == []
    messages = json.loads((tmp_path / "messages.json").read_text())
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"] == system_text(TaskFacts(ENV, None, None))
    assert "on every expert episode; random play must complete the task in under 10%" in messages[0]["content"]
    urls = [part["image_url"]["url"] for part in messages[1]["content"] if part["type"] == "image_url"]
    assert len(urls) == 2 and all(u.startswith("data:image/png;base64,") for u in urls)
    for url, name in zip(urls, ("start.png", "goal.png")):
        pixels = decode_png(base64.b64decode(url.split(",", 1)[1]), name)
        assert pixels.shape == (480, 480, 3)
        assert pixel_digest(pixels) == pixel_digest(decode_png((tmp_path / name).read_bytes(), name))
    assert "use the key to open the door and then get to the goal" in messages[1]["content"][0]["text"]
    assert "`observe rgb tile 8`" in messages[1]["content"][0]["text"]
    assert sizes["characters"]["total"] == len(messages[0]["content"]) + len(messages[1]["content"][0]["text"])
    assert re.search(r"!\[start\]\(start\.png\)", (tmp_path / "prompt.md").read_text())


def test_an_earlier_sessions_folder_is_kept_unless_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    (out / "counterexamples" / "candidate-1-round-2").mkdir(parents=True)
    (out / "counterexamples" / "candidate-1-round-2" / "frame.npz").write_bytes(b"old")
    (out / "transcript.jsonl").write_text("an earlier session's calls\n")
    with ScriptedServer([Scripted(text="must not be asked")]) as server:
        with pytest.raises(SystemExit) as exit_info:
            main(_generate(tmp_path, "--model", "m", "--base-url", server.base_url, "--api-key-env", "CARC_UNSET_KEY"))
        assert server.seen == []
    assert exit_info.value.code == 2
    assert f"{out} is not empty" in capsys.readouterr().err
    assert (out / "transcript.jsonl").read_text() == "an earlier session's calls\n"
    assert main(_generate(tmp_path, "--dry-run", "--force")) == 0
    assert sorted(p.name for p in out.iterdir()) == ["goal.png", "messages.json", "prompt.md", "start.png"]


@pytest.mark.parametrize("status,words", [(401, "refused the API key (401)"), (404, "has no model 'gpt-4o'")])
def test_bad_key_and_unknown_model_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                         status: int, words: str) -> None:
    monkeypatch.setenv("CARC_TEST_KEY", KEY)
    with ScriptedServer([Scripted(text="no: {key}", status=status)]) as server, pytest.raises(SystemExit) as exited:
        main(_generate(tmp_path, "--base-url", server.base_url, "--api-key-env", "CARC_TEST_KEY"))
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert exited.value.code == 2 and words in err and KEY not in err and err.startswith("carc: error: ")
    assert KEY.encode() not in _files_text(tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert words in summary["error"] and summary["totals"]["vlm_calls"] == 0 and not summary["verified"]


def test_png_inputs_and_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from carc.generate.images import write_png

    frame = np.zeros((20, 30, 3), np.uint8)
    frame[5:9, 10:14] = (0, 255, 0)
    write_png(frame, tmp_path / "s.png")
    write_png(frame[::-1].copy(), tmp_path / "g.png")
    with ScriptedServer([Scripted(text="no program")]) as server:
        code = main(_generate(tmp_path, "--base-url", server.base_url, "--api-key-env", "CARC_UNSET_KEY", "--rounds", "1",
                              "--start", str(tmp_path / "s.png"), "--goal", str(tmp_path / "g.png"), "--task", "reach the green square"))
    err = capsys.readouterr().err
    assert code == 1 and "[candidate 1/1 round 1/1] asking gpt-4o via openai" in err and "stopped at reply" in err
    user = server.seen[0].body["messages"][1]["content"]
    assert "Task: reach the green square" in user[0]["text"] and "Frames are 30x20 pixels" in user[0]["text"]
    pixels = decode_png(base64.b64decode(user[1]["image_url"]["url"].split(",", 1)[1]), "start")
    assert pixels.shape == (340, 510, 3) and (pixels[85:153, 170:238] == (0, 255, 0)).all()  # 17x, nearest neighbour


@pytest.mark.parametrize("args,words", [
    (["--start", "s.png"], "give both --start and --goal"),
    (["--start", "bad.png", "--goal", "bad.png"], "bad.png: not a PNG file"),
    (["--replay", "no/such/transcript.jsonl"], "cannot read"),
    (["--episodes", "2"], "expert_episodes must be at least 3 (verification refuses fewer)"),
])
def test_bad_inputs_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                           args: list[str], words: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.png").write_bytes(b"GIF89a")
    with pytest.raises(SystemExit) as exited:
        main(_generate(tmp_path, "--dry-run", *args) if "--replay" not in args else ["generate", *args, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and words in err and "Traceback" not in err
