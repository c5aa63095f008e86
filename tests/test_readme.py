"""The README's example runs as printed (shorter, into a temporary directory)."""

import os
import re


def test_readme_example_runs(tmp_path, capsys):
    here = os.path.dirname(__file__)
    text = open(os.path.join(here, "..", "README.md")).read()
    (code,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert "cosim.run(1000.0)" in code and '"results/readme"' in code
    code = code.replace("cosim.run(1000.0)", "cosim.run(26.0)")
    code = code.replace('"results/readme"', repr(str(tmp_path / "readme")))
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out.split("\n")
    assert "(260, 68, 1)" in out and "800" in out, out
    assert (tmp_path / "readme" / "tvb.nc").exists()
