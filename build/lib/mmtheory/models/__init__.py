"""Torch models: late-fusion networks (batched linear ones for the theory chapters, ResNet-18 for OGM-GE)."""

from mmtheory.models.fusion import BatchedLateFusion
from mmtheory.models.late_fusion import (FUSIONS, LateFusionClassifier, MLPEncoder, audio_visual_resnet18,
                                         make_fusion)
from mmtheory.models.resnet import AudioEncoder, ResNet18, VisualEncoder

__all__ = ["BatchedLateFusion", "FUSIONS", "LateFusionClassifier", "MLPEncoder", "audio_visual_resnet18", "make_fusion",
           "AudioEncoder", "ResNet18", "VisualEncoder"]
