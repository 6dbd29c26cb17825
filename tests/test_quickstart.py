"""The quickstart (`make quickstart` = scripts/quickstart.py, the README's five commands) on the
data the repository ships, with fewer steps."""
import csv
import re
import subprocess
import sys

from tests.conftest import REPO


def run(*args):
    result = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{args[0]} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    return result


def test_quickstart_runs_end_to_end(tmp_path):
    out = tmp_path / "qs"
    result = run("scripts/quickstart.py", "--output_dir", str(out), "--total_steps", "20",
                 "--epochs_num", "2")
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines if line.startswith("[")] == [
        "[1/5] vocabulary", "[2/5] preprocess", "[3/5] pre-train", "[4/5] fine-tune",
        "[5/5] predict"]
    # Every output is named and exists.
    named = [line.split("-> ", 1)[1] for line in lines if "-> " in line]
    for name in ("vocab.txt", "dataset.pt", "model.bin", "model.bin.json", "pretrain.log",
                 "classifier_model.bin", "classifier_model.bin.json", "prediction.tsv"):
        assert any(path.endswith("/" + name) for path in named), name
        assert (out / name).exists(), name
    assert (out / "model.bin-10").exists()
    assert re.fullmatch(r"Test accuracy: \d\.\d{4} \(\d+/100\)", lines[-1]), lines[-1]
    # The vocabulary step rebuilds the shipped one exactly.
    shipped = (REPO / "models" / "sample_vocab.txt").read_text(encoding="utf-8")
    assert (out / "vocab.txt").read_text(encoding="utf-8") == shipped
    log = (out / "quickstart.log").read_text(encoding="utf-8")
    assert "|       20/      20 steps|" in log and "Acc. (Correct/Total)" in log
    # Prediction needed no --config_path/--labels_num: the model's sidecar gave them.
    assert "--labels_num" not in log.split("$ python3 inference/run_classifier_infer.py")[1]
    assert "Wrote 100 predictions to" in log
    with open(out / "prediction.tsv", encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    assert rows[0] == ["label", "logits", "prob"]
    assert len(rows) == 101 and all(row[0] in ("0", "1") for row in rows[1:])
    probs = [float(p) for p in rows[1][2].split(" ")]
    assert abs(sum(probs) - 1.0) < 1e-4
