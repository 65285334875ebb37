"""README.md's examples, run as a new user would run them (#21), so the README cannot
drift from what dlkit does.

Every command line of every bash block is parsed from README.md and run in a fresh
folder holding the names the README uses (photo.jpg, pets/, fra.txt, flickr8k/, ...),
made from small slices of ../shared. Trainings are cut to a step or so (CUTS); each
command must exit 0, its -o output must exist, and what it redirects to a file must be
records. Commands run in-process through the CLI, so TensorFlow starts once; pipes,
`<`/`>` redirections, `*` globs and `&&` are done here as bash does them, and the other
programs of a pipe (find, cut, cat) run for real.

A command no rule names runs unchanged: a new README example is tested as soon as it
is written. Those that cannot run here are skipped by SKIPPED, each with its reason,
and the commands whose ImageNet weights are not in the offline Keras cache (VGG for
style transfer) must fail with the advice to pass --backbone mobilenet_v2, and then
succeed with it; others (classify --backbone resnet50) must fail with one line naming
the file.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (DATA, PETS, ROOT, SHARED, class_slice, file_slice, flickr_slice, glove_text, lines_slice, link,
                      need, text_lines, tsv_rows)

pytestmark = pytest.mark.slow

# Lines that cannot run here, and why.
SKIPPED = {
    r"^pip install": "installs dlkit from the package index; the tests run in an installed checkout",
    r"^pytest": "runs the test suite, this test among it",
    r"TF_CONFIG=": "multi-worker training across two hosts (tests/test_distributed.py runs such a job on "
                   "127.0.0.1)",
    r"--init-from shipped": "fine-tunes a shipped model, minutes for the translator (test_sentiment.py fine-tunes "
                            "the shipped sentiment model; test_translator.py the int8 copy of a small translator)",
}

# What cuts each training (or long optimisation) to a step or so: options set on the
# command, and options replaced only where the README passes them. The first match counts.
CUTS = [
    (r"^dlkit train-classifier .*--arch lenet5", {"--epochs": "1"}, {}),
    (r"^dlkit train-classifier", {"--epochs": "1", "--image-size": "96", "-b": "8"}, {"--fine-tune-epochs": "1"}),
    (r"^dlkit train-svm", {"--folds": "2"}, {}),
    (r"^dlkit train-autoencoder", {"--epochs": "1"}, {}),
    (r"^dlkit stylize .*--model", {"--size": "64"}, {}),
    (r"^dlkit stylize", {"--size": "48", "--iterations": "3"}, {}),
    (r"^dlkit train-stylizer", {"--steps": "2", "--steps-per-epoch": "1", "--image-size": "32", "-b": "1",
                                "--width": "4"}, {}),
    (r"^dlkit train-translator", {"--epochs": "1", "--vocab-size": "200", "--units": "16", "--embedding-dim": "16",
                                  "--bleu-sentences": "20"}, {}),
    (r"^dlkit train-captioner", {"--epochs": "1", "--units": "32", "--embedding-dim": "16", "--min-count": "2"}, {}),
    (r"^dlkit train-sentiment", {"--epochs": "1", "--units": "16"}, {"--max-length": "50"}),
    (r"^dlkit word2vec train", {"--epochs": "1"}, {}),
    (r"^dlkit train-geolocator", {"--epochs": "1"}, {}),
]

# The networks commands use by default (MobileNetV2 where not named), for the commands
# whose ImageNet weights may be absent offline.
DEFAULT_BACKBONES = {"stylize": "vgg19", "train-stylizer": "vgg16"}


# ---- README.md, parsed ---------------------------------------------------------------------

def readme_blocks() -> list[tuple[str, list[str]]]:
    """(the heading above it, its command lines) for each bash block of README.md."""
    blocks, heading, lines, inside = [], "", [], False
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            if inside:
                blocks.append((heading, _commands(lines)))
            inside, lines = line.strip() == "```bash", []
        elif inside:
            lines.append(line)
        elif line.startswith("#"):
            heading = line.lstrip("#").strip()
    return [(h, c) for h, c in blocks if c]


def _commands(lines: list[str]) -> list[str]:
    joined = "\n".join(lines).replace("\\\n", " ")  # continuation lines
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def _tokens(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars="|&<>")
    lexer.whitespace_split = True
    return list(lexer)


def _split(tokens: list[str], separator: str) -> list[list[str]]:
    parts = [[]]
    for token in tokens:
        if token == separator:
            parts.append([])
        else:
            parts[-1].append(token)
    return parts


BLOCKS = readme_blocks()


def _block_id(block) -> str:
    heading = block[0]
    name = re.search(r"`dlkit ([\w-]+)", heading)
    return name.group(1) if name else re.sub(r"\W+", "-", heading.lower()).strip("-")[:30] or "top"


# ---- The folder a new user works in ----------------------------------------------------------

@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """Every name the README's commands read, as small slices of ../shared (links where
    the file is used whole)."""
    base = tmp_path_factory.mktemp("readme-data")
    photos, pets = DATA / "photos", PETS
    link(photos / "chelsea.png", base / "photo.jpg")
    link(ROOT / "examples" / "cat.jpg", base / "examples" / "cat.jpg")  # the repository's example photo
    link(sorted(need(pets / "train" / "dogs").iterdir())[0], base / "dog.jpg")
    for name in ["chelsea.png", "coffee.png", "rocket.jpg", "china.jpg", "flower.jpg"]:
        link(photos / name, base / "holiday" / name)
    link(Path(os.environ["KERAS_HOME"]) / "models" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
          base / "my-mobilenet.h5")
    class_slice(pets / "train", base / "pets", 12)
    class_slice(pets / "train", base / "train", 12, skip=12)
    class_slice(pets / "validation", base / "val", 6)
    # The SVM example's pets/ is split in train/ and validation/ (see its section)
    class_slice(pets / "train", base / "pets-split" / "train", 12)
    class_slice(pets / "validation", base / "pets-split" / "validation", 6)
    # The --labels example: a species column and a multi-label tags column for pets/
    rows = [f"{kind}/{p.name},{kind[:-1]},{kind[:-1]}{';even' if i % 2 == 0 else ''}"
            for kind in ("cats", "dogs") for i, p in enumerate(sorted((base / "pets" / kind).iterdir()))]
    (base / "labels.csv").write_text("image,species,tags\n" + "\n".join(rows) + "\n")
    style = DATA / "style"
    for name, source in [("starry.jpg", "starry-night.jpg"), ("candy.jpg", "candy.jpg"), ("mosaic.jpg", "mosaic.jpg")]:
        link(style / "style" / source, base / name)
    file_slice(style / "content", base / "photos", 4)
    lines_slice(DATA / "anki" / "fra.txt", base / "fra.txt", 1500)
    (base / "english.txt").write_text("I am hungry.\nWhere is the station?\nThank you.\n")
    flickr_slice(base / "flickr8k", 40)
    sst2 = DATA / "sst2"
    lines_slice(sst2 / "train.tsv", base / "sst2" / "train.tsv", 400, header=True)
    lines_slice(sst2 / "dev.tsv", base / "sst2" / "dev.tsv", 100, header=True)
    lines_slice(sst2 / "test_is_glue_dev.tsv", base / "sst2" / "test.tsv", 100, header=True)
    lines_slice(sst2 / "dev.tsv", base / "reviews.tsv", 50, skip=100)
    rows = tsv_rows(sst2 / "train.tsv", 200)
    with open(base / "reviews.csv", "w", encoding="utf-8") as f:
        f.write("body,stars\n" + "".join(f'"{text.replace(chr(34), "")}",{int(label) * 4 + 1}\n'
                                         for text, label in rows))
    for i, (text, label) in enumerate(rows[:60]):
        (base / "aclImdb" / "train" / ("pos" if label == "1" else "neg")).mkdir(parents=True, exist_ok=True)
        (base / "aclImdb" / "train" / ("pos" if label == "1" else "neg") / f"{i}.txt").write_text(text)
    glove = DATA / "glove" / "glove.6B.50d.50k.bin"
    link(glove, base / "glove.bin")
    glove_text(glove, base / "glove.6B.50d.txt", 5000)
    articles = DATA / "geo_news" / "articles.jsonl"
    lines_slice(articles, base / "articles.jsonl", 200)
    lines_slice(articles, base / "test.jsonl", 30, skip=200)
    (base / "corpus").mkdir()
    (base / "corpus" / "news.txt").write_text("".join(json.loads(line)["text"].replace("\n", " ") + "\n"
                                                      for line in text_lines(articles)), encoding="utf-8")
    (base / "headlines.txt").write_text("Flooding closed roads across Louisiana\nParis metro strike enters day three\n")
    return base


def _folder_for(block_id: str, workspace: Path, tmp_path: Path) -> Path:
    """A fresh copy (of links) of the workspace: each section starts from the README's
    names alone, and `../shared` is the shared data, as beside a checkout."""
    work = tmp_path / "work"
    shutil.copytree(workspace, work, symlinks=True)
    if block_id in ("extract-features", "train-svm"):  # that section's pets/ has train/ and validation/
        shutil.rmtree(work / "pets")
        (work / "pets-split").rename(work / "pets")
    (tmp_path / "shared").symlink_to(SHARED.resolve())
    return work


# ---- Running a line as bash would ----------------------------------------------------------

def _option(argv: list[str], name: str, value: str, replace_only: bool) -> list[str]:
    if name in argv:
        i = argv.index(name)
        return argv[: i + 1] + [value] + argv[i + 2:]
    return argv if replace_only else argv + [name, value]


def _cut(argv: list[str]) -> list[str]:
    line = shlex.join(["dlkit", *argv])
    for pattern, options, replaced in CUTS:
        if re.search(pattern, line):
            for name, value in options.items():
                argv = _option(argv, name, value, replace_only=False)
            for name, value in replaced.items():
                argv = _option(argv, name, value, replace_only=True)
            break
    return argv


def _glob(argv: list[str]) -> list[str]:
    out = []
    for token in argv:
        found = sorted(str(p) for p in Path().glob(token)) if "*" in token else []
        out.extend(found or [token])  # bash keeps a pattern that matches nothing
    return out


def _invoke(argv: list[str], stdin: bytes | None):
    from click.testing import CliRunner

    from dlkit.cli import cli

    started = time.perf_counter()
    result = CliRunner().invoke(cli, argv, input=stdin)
    print(f"{time.perf_counter() - started:6.1f} s  exit {result.exit_code}  dlkit {shlex.join(argv)}")  # pytest -s
    return result


def _is_record(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _absent_download(argv: list[str]) -> str | None:
    """The weight file a command needs that the offline cache lacks (VGG, ResNet, ...)."""
    from dlkit.vision import backbones

    if "--model" in argv:
        return None
    option = next((o for o in ("--backbone", "--arch") if o in argv), None)
    name = argv[argv.index(option) + 1] if option else DEFAULT_BACKBONES.get(argv[0], "mobilenet_v2")
    include_top = argv[0] == "classify"
    if name not in backbones.BACKBONES or backbones.is_cached(name, include_top):
        return None
    return backbones.get(name).weight_file(include_top)


def run_command(tokens: list[str], work: Path) -> list[str]:
    """Runs one command (a pipeline, maybe with < and >) and checks it; returns what was
    checked, for the failure messages of the next ones."""
    stdin_file = stdout_file = None
    if ">" in tokens:
        i = tokens.index(">")
        stdout_file, tokens = work / tokens[i + 1], tokens[:i] + tokens[i + 2:]
    if "<" in tokens:
        i = tokens.index("<")
        stdin_file, tokens = work / tokens[i + 1], tokens[:i] + tokens[i + 2:]
    stages = _split(tokens, "|")
    data = stdin_file.read_bytes() if stdin_file else None
    for stage in stages[:-1]:
        assert stage[0] != "dlkit", f"dlkit in the middle of a pipe is not handled here: {tokens}"
        data = subprocess.run(stage, input=data, capture_output=True, cwd=work, check=True).stdout
    argv = stages[-1]
    assert argv[0] == "dlkit", f"only dlkit commands end README pipes: {tokens}"
    argv = _cut(_glob(argv[1:]))
    missing = _absent_download(argv)
    if missing:  # offline: one line naming the file; where it offers --backbone mobilenet_v2, that works
        result = _invoke(argv, data)
        assert result.exit_code == 1 and result.stdout == "", result.stderr
        assert missing in result.stderr and "could not be downloaded" in result.stderr, result.stderr
        if "or pass --backbone mobilenet_v2" not in result.stderr:
            return argv
        argv = argv + ["--backbone", "mobilenet_v2"]
    result = _invoke(argv, data)
    shown = f"dlkit {shlex.join(argv)}\nexit {result.exit_code}\nstderr: {result.stderr[-3000:]}"
    if result.exception and not isinstance(result.exception, SystemExit):
        raise AssertionError(shown) from result.exception
    assert result.exit_code == 0, shown
    if "-o" in argv:
        assert (work / argv[argv.index("-o") + 1]).exists(), shown
    if stdout_file:  # records, or (translate) one line out per line in
        stdout_file.write_text(result.stdout, encoding="utf-8")
        lines = result.stdout.splitlines()
        assert lines, shown
        assert all(map(_is_record, lines)) or len(lines) == len(data.splitlines()), shown
    return argv


@pytest.mark.parametrize("block", BLOCKS, ids=[_block_id(b) for b in BLOCKS])
def test_readme_block_runs_as_written(block, workspace, tmp_path, monkeypatch):
    heading, lines = block
    work = _folder_for(_block_id(block), workspace, tmp_path)
    monkeypatch.chdir(work)
    ran, skipped = 0, []
    for line in lines:
        for part in _split(_tokens(line), "&&"):
            text = shlex.join(part)
            reason = next((why for pattern, why in SKIPPED.items() if re.search(pattern, text)), None)
            if reason:
                skipped.append(f"{text}: {reason}")
                continue
            run_command(part, work)
            ran += 1
    if not ran:
        pytest.skip("; ".join(skipped))


def test_every_readme_command_is_run_or_skipped_for_a_reason():
    """The parser sees the commands a reader sees: one per line of each bash block."""
    commands = [c for _, lines in BLOCKS for c in lines]
    assert len(commands) >= 40
    assert "dlkit classify examples/cat.jpg" in " ".join(commands)
    for command in commands:
        for part in _split(_tokens(command), "&&"):
            text = shlex.join(part)
            assert part[0] == "dlkit" or "|" in part or any(re.search(p, text) for p in SKIPPED), text
