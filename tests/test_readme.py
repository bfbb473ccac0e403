"""The README's promises: the Space header, the two commands, and the denoise example runs as written."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_space_header_matches_the_pinned_gradio():
    header = README.split("---")[1]
    fields = dict(line.split(":", 1) for line in header.strip().splitlines())
    assert fields["sdk"].strip() == "gradio" and fields["app_file"].strip() == "app.py"
    pinned = re.search(r"^gradio==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert fields["sdk_version"].strip() == pinned


def test_the_two_commands_come_first_and_ci_runs_the_test_command():
    body = README.split("---", 2)[2]
    first_block = re.search(r"```bash\n(.*?)```", body, re.S).group(1).strip().splitlines()
    assert first_block[0].startswith("pip install -r requirements.txt && python app.py")
    assert first_block[1].startswith("bash scripts/test.sh")
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^torch==2\.13\.0$", (ROOT / "requirements.txt").read_text(), re.M)


def test_denoise_example_runs(tmp_path):
    code = re.search(r"<!-- denoise-example -->\n```python\n(.*?)```", README, re.S).group(1)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("step")]
    assert len(lines) == 20
    assert lines[0].startswith("step  1/20  t= 950") and lines[-1].startswith("step 20/20  t=   0")
