"""ResNet-18 encoders written on plain torch (no torchvision), as in the OGM-GE code.

The official code (GeWu-Lab/OGM-GE_CVPR2022, ``models/backbone.py``) uses torchvision's ResNet-18
layout without the classifier: a 7x7 stride-2 stem, a 3x3 stride-2 max-pool, four stages of two
basic blocks (64, 128, 256, 512 channels). The audio encoder takes a 1-channel spectrogram, the
visual encoder 3-channel frames; both return the last feature map, pooled by the wrappers below.
"""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) shortcut."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """ResNet-18 trunk: ``(B, C, H, W) -> (B, 8*width, H/32, W/32)`` feature map.

    Parameters
    ----------
    in_channels : int
        1 for a spectrogram, 3 for RGB frames.
    width : int
        Channels of the first stage (64 in ResNet-18; smaller values give a cheap model for tests).
    """

    def __init__(self, in_channels: int = 3, width: int = 64) -> None:
        super().__init__()
        self.out_channels = 8 * width
        self.conv1 = nn.Conv2d(in_channels, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        chans = [width, 2 * width, 4 * width, 8 * width]
        layers, in_ch = [], width
        for i, ch in enumerate(chans):
            stride = 1 if i == 0 else 2
            layers.append(nn.Sequential(BasicBlock(in_ch, ch, stride), BasicBlock(ch, ch, 1)))
            in_ch = ch
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class AudioEncoder(nn.Module):
    """Spectrogram ``(B, F, T)`` or ``(B, 1, F, T)`` -> ``(B, 8*width)`` (ResNet-18, global average pool)."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.net = ResNet18(1, width)
        self.out_features = self.net.out_channels

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        if spec.dim() == 3:
            spec = spec.unsqueeze(1)
        if spec.dim() != 4 or spec.shape[1] != 1:
            raise ValueError(f"audio input must be (B, F, T) or (B, 1, F, T); got shape {tuple(spec.shape)}.")
        return torch.flatten(nn.functional.adaptive_avg_pool2d(self.net(spec), 1), 1)


class VisualEncoder(nn.Module):
    """Frames ``(B, 3, T, H, W)`` -> ``(B, 8*width)``: ResNet-18 per frame, average over time and space.

    This is the official model's ``adaptive_avg_pool3d`` over ``(T, h, w)``.
    """

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.net = ResNet18(3, width)
        self.out_features = self.net.out_channels

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.dim() != 5 or frames.shape[1] != 3:
            raise ValueError(f"visual input must be (B, 3, T, H, W); got shape {tuple(frames.shape)}.")
        b, c, t, h, w = frames.shape
        x = frames.transpose(1, 2).reshape(b * t, c, h, w)
        if frames.is_contiguous(memory_format=torch.channels_last_3d):
            x = x.contiguous(memory_format=torch.channels_last)
        fmap = self.net(x)
        return fmap.reshape(b, t, *fmap.shape[1:]).mean(dim=(1, 3, 4))
