"""Issue 21: the README's Python snippets run as written; the plug-in infers feature sizes and explains itself."""

import re
from pathlib import Path

import pytest
import torch
from torch import nn

from mmtheory.models import LateFusionClassifier
from mmtheory.models.late_fusion import infer_out_features
from mmtheory.train.ogm import OGMGE

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _python_blocks() -> list[str]:
    return BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))


def test_the_readme_has_python_snippets():
    assert len(_python_blocks()) >= 1


@pytest.mark.parametrize("index", range(len(_python_blocks())))
def test_readme_python_snippet_runs_as_written(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a snippet that writes files writes them here
    code = _python_blocks()[index]
    exec(compile(code, f"README.md python block {index + 1}", "exec"), {"__name__": "__readme__"})


def test_feature_sizes_are_inferred_from_sequential_and_conv_encoders():
    audio = nn.Sequential(nn.Conv1d(1, 8, 5), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten())
    visual = nn.Sequential(nn.Flatten(), nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 16))
    assert infer_out_features(audio) == 8 and infer_out_features(visual) == 16
    model = LateFusionClassifier({"audio": audio, "visual": visual}, n_classes=3)
    feats, logits = model({"audio": torch.randn(4, 1, 20), "visual": torch.randn(4, 3, 4)})
    assert logits.shape == (4, 3) and feats["audio"].shape == (4, 8)
    assert LateFusionClassifier({"audio": audio, "visual": visual}, 3, dims={"audio": 8, "visual": 16}) is not None


def test_an_encoder_without_a_readable_size_says_what_to_pass():
    with pytest.raises(ValueError, match=r"pass dims=\{'audio': <features per sample>"):
        LateFusionClassifier({"audio": nn.ReLU(), "visual": nn.Linear(3, 2)}, n_classes=2)
    with pytest.raises(ValueError, match="dims lacks modalities"):
        LateFusionClassifier({"audio": nn.Linear(3, 2), "visual": nn.Linear(3, 2)}, 2, dims={"audio": 2})


def test_ogm_hint_names_the_parameter_kinds_it_found():
    audio = nn.Sequential(nn.Conv1d(1, 8, 5), nn.AdaptiveAvgPool1d(1), nn.Flatten())
    visual = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    with pytest.raises(ValueError) as err:
        OGMGE({"audio": audio, "visual": visual})
    msg = str(err.value)
    assert "['audio']" in msg and "3-D weight of Conv1d x1" in msg and "1-D bias of Conv1d x1" in msg
    assert "no convolution" not in msg and "params='weights'" in msg
    assert OGMGE({"audio": audio, "visual": visual}, params="weights").params["audio"][0].dim() == 3
