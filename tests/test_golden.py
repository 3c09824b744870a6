"""The golden bits (tests/golden_bits.json, made on CPU) recompute bit for bit here.

On CPU this guards against an unnoticed change of any value or derivative in the grid
(an intended change regenerates the file: ``python tests/golden.py --write``, and the
diff of the file shows which cases moved). On a GPU or TPU it is the check that the bits
are the same on every backend; ``benchmarks/device_check.py`` runs it there.
"""

import json

import golden
import jax


def test_golden_bits_recompute_identically():
    n, problems, notes = golden.compare()
    assert n >= 300
    assert not problems, "\n".join(problems[:20]) + golden.fast_math_note()
    made = json.loads(golden.PATH.read_text())["made_with"]
    if (made["jax"], made["backend"]) == (jax.__version__, jax.default_backend()):
        # The versions and backend that made the file: derivatives bit for bit too.
        assert not notes, "\n".join(notes[:20])


def test_golden_file_is_plain_data_and_covers_every_dtype():
    data = json.loads(golden.PATH.read_text())
    kinds = {name.split()[0] for name in data["cases"]}
    assert kinds == {"f32", "bf16", "f16", "f64", "grad"}
    assert data["made_with"]["backend"] == "cpu"
    assert data["made_with"]["steps"] == golden.STEPS.tolist()
    raw = sum(len(c.get("hex", "").split()) for c in data["cases"].values())
    assert raw >= 2000  # raw float32 bits kept for the eager cases, to name differing steps


def test_compare_reports_a_flipped_bit(tmp_path):
    data = json.loads(golden.PATH.read_text())
    name = next(k for k, c in data["cases"].items() if "hex" in c)
    words = data["cases"][name]["hex"].split()
    words[5] = f"{int(words[5], 16) ^ 1:08x}"  # one ulp at the sixth step
    data["cases"][name]["hex"] = " ".join(words)
    data["cases"][name]["sha256"] = "0" * 32
    path = tmp_path / "golden.json"
    path.write_text(json.dumps({"cases": {name: data["cases"][name]}}))
    _, problems, _ = golden.compare(path, subset=True)
    assert len(problems) == 1
    assert name in problems[0] and f"at 1 of {golden.STEPS.size} values (max 1 ulp)" in problems[0]
    assert f"step {golden.STEPS[5]}:" in problems[0]


def test_fast_math_is_named(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=true")
    assert "fast math" in golden.fast_math_note()
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
    assert golden.fast_math_note() == ""
