"""Override values as a user's shell passes them: Hangul, parentheses, spaces and `&`, in every entry point.

The grammar cases run through Hydra's own override parser; the entry points run in processes of their own
(`helpers.entry_points`), exactly as a user types them (each gets its arguments as the shell would hand them
over, quotes removed).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers import corpora as fx
from helpers import entry_points
from helpers.runs import best_checkpoint
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from maeum.cli import hydra_override, hydra_overrides

KOREAN_NAME = "감성대화말뭉치(최종데이터)_Training & 검수 v2.xlsx"
PARSER = OverridesParser.create()


def parsed(arg: str):
    return PARSER.parse_override(arg)


@pytest.mark.unit
@pytest.mark.parametrize(
    "value",
    [
        "/data/한국어_단발성_대화_데이터셋.xlsx",
        "/data/감성대화말뭉치(최종데이터)_Validation.xlsx",
        "/data/웰니스 대화 스크립트 (1).xlsx",
        "/data/R&D/감정.csv",
        "/data/it's 마음.txt",
        "C:\\data\\감정\\",
    ],
)
def test_a_korean_path_becomes_one_string(value: str) -> None:
    override = parsed(hydra_override(f"data.path={value}"))
    assert override.key_or_group == "data.path" and not override.is_sweep_override()
    assert override.value() == value


@pytest.mark.unit
def test_a_sweep_over_korean_paths_stays_a_sweep() -> None:
    values = ["/data/감성대화말뭉치(최종데이터)_Training.xlsx", "/data/plain.xlsx", "/data/단발성 (2).xlsx"]
    override = parsed(hydra_override("data.path=" + ",".join(values), multirun=True))
    assert override.is_sweep_override()
    assert [getattr(v, "text", v) for v in override.sweep_iterator()] == values  # QuotedString or str


@pytest.mark.unit
def test_outside_a_multirun_a_comma_is_part_of_the_path() -> None:
    value = "/data/감성(최종),v2.xlsx"
    override = parsed(hydra_override(f"data.path={value}"))
    assert not override.is_sweep_override() and override.value() == value


@pytest.mark.unit
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("choice(감정,기쁨 (1))", ["감정", "기쁨 (1)"]),
        ("choice(/d/감성(최종).xlsx,/d/plain.xlsx)", ["/d/감성(최종).xlsx", "/d/plain.xlsx"]),
        ("감정,[기쁨,슬픔]", ["감정", ["기쁨", "슬픔"]]),
    ],
)
def test_sweep_functions_and_lists_keep_their_shape(value: str, expected: list) -> None:
    override = parsed(hydra_override(f"tags={value}", multirun=True))
    assert override.is_sweep_override()
    swept = [[getattr(e, "text", e) for e in v] if isinstance(v, list) else getattr(v, "text", v)
             for v in override.sweep_iterator()]  # fmt: skip
    assert swept == expected


@pytest.mark.unit
def test_korean_list_elements_are_quoted_inside_the_list() -> None:
    assert parsed(hydra_override("tags=[감정,기쁨 (1)]")).value() == ["감정", "기쁨 (1)"]


@pytest.mark.unit
def test_an_interpolation_inside_a_korean_path_still_resolves() -> None:
    assert (
        hydra_override("data.path=${paths.data_dir}/감성.xlsx") == "data.path='${paths.data_dir}/감성.xlsx'"
    )


@pytest.mark.unit
@pytest.mark.parametrize(
    "arg",
    [
        "data.path=${paths.data_dir}/x.csv",
        "tags=[a,b]",
        "seed=1,2,3",
        "seed=range(1,4)",
        "backbone=choice(tiny_bert,kobert)",
        "+trainer.limit_train_batches=2",
        "~logger",
        "++trainer.max_epochs=3",
        "text='already quoted 감정'",
        'data.path="/data/감정 (1).xlsx"',
    ],
)
def test_what_hydra_already_parses_passes_unchanged(arg: str) -> None:
    assert hydra_override(arg) == arg
    parsed(arg)


@pytest.mark.unit
@pytest.mark.parametrize(
    "text",
    [
        "안녕, 반가워 ${oc.env:HOME} (ㅋㅋ) 'ㅇㅋ'",
        '"그래"라고 했어',
        "'ㅋㅋ",
        "a \\${x} b\\",
        "null은 아니야",
    ],
)
def test_free_text_is_one_literal_string(text: str) -> None:
    value = parsed(hydra_override(f"text={text}", free_text=("text",))).value()
    assert OmegaConf.create({"text": value}).text == text  # resolved by OmegaConf: nothing interpolated


@pytest.mark.unit
def test_free_text_keeps_hydra_quoting_and_null() -> None:
    assert hydra_override("text='이미, 인용됨'", free_text=("text",)) == "text='이미, 인용됨'"
    assert hydra_override("condition=null", free_text=("condition",)) == "condition=null"


@pytest.mark.unit
def test_flags_and_their_values_pass_unchanged() -> None:
    args = ["-m", "--config-name", "train", "-c", "job", "data.path=/d/감정.xlsx", "--info", "config"]
    assert hydra_overrides(args) == [*args[:5], "data.path='/d/감정.xlsx'", "--info", "config"]


@pytest.mark.unit
def test_an_override_that_cannot_be_read_is_named_in_one_line() -> None:
    with pytest.raises(SystemExit) as stop:
        hydra_overrides(["seed=1", "감정.path=x"])
    message = str(stop.value)
    assert "'감정.path=x'" in message and "\n" not in message


# ------------------------------------------------------------------------------------- every entry point
def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A maeum entry point run as a user runs it, with `args` exactly as their shell passes them."""
    (proc,) = run_together([list(args)], cwd=cwd)
    return proc


def run_together(commands: list[list[str]], cwd: Path) -> list[subprocess.CompletedProcess[str]]:
    """Independent entry points started at once, each required to succeed."""
    done = entry_points.run_together(commands, cwd)
    for args, proc in zip(commands, done, strict=True):
        assert proc.returncode == 0, f"{args}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    return done


@pytest.fixture
def korean_dir(tmp_path: Path) -> Path:
    path = tmp_path / "마음 실험 (최종&검수)"
    path.mkdir()
    return path


@pytest.mark.e2e
def test_data_stats_reads_a_korean_file_name(korean_dir: Path) -> None:
    data = fx.single_turn_xlsx(korean_dir / "한국어_단발성_대화_데이터셋(최종).xlsx")
    proc = run("maeum.data_stats", "data=classify/single_turn_emotion", f"data.path={data}", cwd=korean_dir)
    assert json.loads(proc.stdout.strip().splitlines()[-1])["rows_kept"] > 0


@pytest.mark.e2e
@pytest.mark.parametrize(
    "launcher",
    [
        pytest.param([], id="basic"),  # Hydra's own: the runs one after the other in this process
        # each run its own process through submitit (hydra/launcher=slurm's local twin; the real SLURM
        # sweep, with Korean sweep directories, runs by default in tests/test_slurm.py)
        pytest.param(["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"], id="submitit_local",
                     marks=pytest.mark.slow),
    ],
)  # fmt: skip
def test_a_sweep_trains_on_korean_file_names(korean_dir: Path, launcher: list[str]) -> None:
    a = fx.aihub_new_xlsx(korean_dir / KOREAN_NAME, copies=10)
    b = fx.aihub_new_xlsx(korean_dir / "감성대화말뭉치(최종데이터)_Validation.xlsx", copies=10)
    common = ["data=classify/aihub_emotion", "debug=fdr", "~logger", "extras.print_config=false"]
    sweep = [
        "maeum.train",
        "-m",
        *common,
        *launcher,
        f"data.path={a},{b}",
        f"hydra.sweep.dir={korean_dir}/스윕",
    ]
    run_together([sweep], cwd=korean_dir)
    saved = sorted((korean_dir / "스윕").glob("*/config.yaml"))
    assert [OmegaConf.load(p).data.path for p in saved] == [str(a), str(b)]
    if launcher:  # two jobs, both done
        assert len(list((korean_dir / "스윕" / ".submitit").glob("*/*_result.pkl"))) == 2


@pytest.fixture
def korean_checkpoints(main_run, chatbot_run: Path, korean_dir: Path) -> tuple[Path, Path]:
    """The main job's classifier and the sample chatbot, copied under Korean names."""
    classifier = shutil.copy(best_checkpoint(main_run[0]), korean_dir / "감정 분류기 (최종).ckpt")
    chatbot = shutil.copy(best_checkpoint(chatbot_run), korean_dir / "공감 챗봇 (최종).ckpt")
    return Path(classifier), Path(chatbot)


@pytest.mark.e2e
def test_eval_predict_chat_and_export_take_korean_file_names(korean_checkpoints, korean_dir: Path) -> None:
    classifier, chatbot = korean_checkpoints
    lines = korean_dir / "문장 (사용자&상담).txt"
    lines.write_text("오늘 너무 기뻐 ㅋㅋ\n시험에 떨어졌어 ㅠㅠ\n", encoding="utf-8")
    out = korean_dir / "예측 (1).jsonl"
    exported = korean_dir / "내보내기 (hf)"
    jsonl = ["output_format=jsonl"]
    _, _, chatted, _ = run_together(
        [
            ["maeum.eval", f"ckpt_path={classifier}", f"hydra.run.dir={korean_dir}/평가"],
            ["maeum.predict", f"ckpt_path={classifier}", f"input={lines}", f"output={out}"],
            ["maeum.chat", f"ckpt_path={chatbot}", f"classifier_ckpt={classifier}", f"input={lines}", *jsonl],
            ["maeum.export", f"ckpt_path={classifier}", f"output_dir={exported}"],
        ],
        cwd=korean_dir,
    )
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2
    assert len(chatted.stdout.strip().splitlines()) == 2
    assert (exported / "config.json").is_file()
    assert (korean_dir / "평가" / "test_predictions.csv").is_file()


@pytest.mark.e2e
def test_leaderboard_takes_korean_directories(korean_dir: Path) -> None:
    """Runs in the real formats (`tests/helpers/run_dirs.py`; `tests/test_leaderboard.py` reads trained ones)
    below a Korean directory, read by the console script."""
    from helpers.run_dirs import chatbot_run

    runs = korean_dir / "실험 (1)"
    for job, mask in enumerate(("input", "last_sys")):
        chatbot_run(runs, job, [f"data.label_mask={mask}"], val_ppl=[60.0, 50.0 + job], nll=[3.0] * 7)
    out = korean_dir / "리더보드 (최종)"
    run("maeum.leaderboard", str(runs), "--output", str(out), cwd=korean_dir)
    table = (out / "leaderboard.csv").read_text(encoding="utf-8")
    assert "input" in table and "last_sys" in table


# ----------------------------------------------------------------------------- bad input at every entry point
BAD_INPUT = {  # the rows of issue 17's table: what each command is given, and what its one line must say
    "predict: an empty file": ("has no texts (2 lines, all blank)", "빈 파일 (0).txt"),
    "predict: a truncated checkpoint": (
        "not a readable checkpoint (truncated",
        "잘린 체크포인트 (5000).ckpt",
    ),
    "predict: whitespace only": ("text='   ' has nothing to classify",),
    "chat: a condition it was never trained on": (
        "never trained on the condition '행복함'. It knows: ",
        "슬픔",
    ),
    "eval: a directory that is neither": ("has no maeum.json and no config.json", "bad (입력)"),
    "train: a value of the wrong type": ("trainer.max_epochs='abc' is not an integer or null",),
}
READ_ANYWAY = ("predict: a cp949 file", "chat: a cp949 file", "chat: a 20,000-character line")


@pytest.fixture(scope="module")
def bad_input(main_run, chatbot_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every row's command started at once, in a directory named `bad (입력)`, with the checkpoints under
    Korean names."""
    bad = tmp_path_factory.mktemp("cli") / "bad (입력)"
    bad.mkdir()
    classifier = Path(shutil.copy(best_checkpoint(main_run[0]), bad / "감정 분류기 (최종).ckpt"))
    chatbot = Path(shutil.copy(best_checkpoint(chatbot_run), bad / "공감 챗봇 (최종).ckpt"))
    (empty := bad / "빈 파일 (0).txt").write_text("\n  \n", encoding="utf-8")
    (truncated := bad / "잘린 체크포인트 (5000).ckpt").write_bytes(classifier.read_bytes()[:5000])
    (notepad := bad / "메모장 (cp949).txt").write_bytes(
        "오늘 너무 기뻐 ㅋㅋ\r\n시험에 떨어졌어 ㅠㅠ\r\n".encode("cp949")
    )
    (long_line := bad / "긴 줄 (20000).txt").write_text("너무 슬퍼요 ㅠㅠ " * 2000 + "\n", encoding="utf-8")
    predict, chat = ["maeum.predict", f"ckpt_path={classifier}"], ["maeum.chat", f"ckpt_path={chatbot}"]
    commands = {
        "predict: an empty file": [*predict, f"input={empty}"],
        "predict: a truncated checkpoint": ["maeum.predict", f"ckpt_path={truncated}", "text=안녕"],
        "predict: whitespace only": [*predict, "text=   "],
        "chat: a condition it was never trained on": [*chat, "condition=행복함", f"input={empty}"],
        "eval: a directory that is neither": ["maeum.eval", f"ckpt_path={bad}", f"hydra.run.dir={bad}/평가"],
        "train: a value of the wrong type": [
            "maeum.train",
            "trainer.max_epochs=abc",
            f"hydra.run.dir={bad}/t",
        ],
        "predict: a cp949 file": [*predict, f"input={notepad}", f"output={bad / '예측.jsonl'}"],
        "chat: a cp949 file": [*chat, f"input={notepad}", "output_format=jsonl"],
        "chat: a 20,000-character line": [*chat, f"input={long_line}"],
    }
    done = entry_points.run_together(list(commands.values()), cwd=bad)
    results: dict[str, Any] = {"dir": bad}
    for row, proc in zip(commands, done, strict=True):
        results[row] = (proc.returncode, proc.stdout, proc.stderr)
    return results


@pytest.mark.e2e
@pytest.mark.parametrize("row", list(BAD_INPUT))
def test_bad_input_gets_one_line_that_names_it(bad_input: dict[str, Any], row: str) -> None:
    returncode, out, err = bad_input[row]
    assert returncode == 1, (out + err)[-3000:]
    assert "Traceback" not in out + err, (out + err)[-3000:]
    (error,) = [line for line in (out + err).splitlines() if "][ERROR] - " in line]  # one line
    for expected in BAD_INPUT[row]:
        assert expected in error, error


@pytest.mark.e2e
def test_cp949_files_are_read_and_a_20000_character_line_is_cut_without_a_warning(
    bad_input: dict[str, Any],
) -> None:
    """Windows Notepad's cp949 is decoded, with a log line, by predict and chat; a very long chat line is cut
    to max_length without the tokenizer's "... will result in indexing errors" warning, which is false."""
    for row in READ_ANYWAY:
        returncode, out, err = bad_input[row]
        assert returncode == 0, (out + err)[-3000:]
    texts = ["오늘 너무 기뻐 ㅋㅋ", "시험에 떨어졌어 ㅠㅠ"]
    _, out, err = bad_input["predict: a cp949 file"]
    assert "not UTF-8; read as cp949" in out + err
    predictions = (bad_input["dir"] / "예측.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["text"] for line in predictions] == texts
    _, out, err = bad_input["chat: a cp949 file"]
    assert "not UTF-8; read as cp949" in err
    assert [json.loads(line)["user"] for line in out.splitlines()] == texts
    _, out, err = bad_input["chat: a 20,000-character line"]
    assert "Token indices sequence length" not in err
    assert len(out.splitlines()) == 1
