"""Random-weight torchvision models, saved as safetensors, with torchvision's own outputs.

Small fixtures for the tests (committed, in crates/cnn-torchvision/tests/fixtures):

    python scripts/torchvision/make_fixtures.py --out crates/cnn-torchvision/tests/fixtures

Full-size models (vgg16, alexnet, resnet50 at 224x224; ~900 MB, for `cargo xtask
verify-pretrained`):

    python scripts/torchvision/make_fixtures.py --out DIR --full

Each model NAME gives NAME.safetensors (its state_dict, as safetensors.torch.save_file writes
it) and NAME.io.safetensors (`pixels`: u8 images NHWC, divided by 255 for the input; `logits`: the module's output in
eval mode). The small ones are torchvision's own classes (VGG, AlexNet, ResNet with
Bottleneck) with every width divided by 16 (VGG's by 32) — the same modules, names and forward code. Batch
norms get random running statistics and affine weights so their mapping is tested too.
Needs torch, torchvision and safetensors (PyPI); versions are recorded in manifest.json.
"""

import argparse
import json
import os

import numpy as np
import torch
import torchvision
from safetensors.torch import save_file
from torch import nn
from torchvision.models import resnet, vgg

DIV = 16
# VGG's first Linear is the largest tensor: narrower still.
VGG_DIV = 32


def randomise_bn(model, gen, shape):
    """Running statistics measured on random images (as training leaves them: activations of a
    sane size through 50 layers), then random affine weights and a shift of the statistics."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    if not bns:
        return
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # a plain average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.rand((4, 3, shape[0], shape[1]), generator=gen))
    model.eval()
    with torch.no_grad():
        for m in bns:
            n = m.num_features
            m.running_mean.add_(torch.randn(n, generator=gen) * 0.05)
            m.running_var.mul_(torch.rand(n, generator=gen) * 0.4 + 0.8)
            m.weight.copy_(torch.rand(n, generator=gen) * 0.5 + 0.75)
            m.bias.copy_(torch.randn(n, generator=gen) * 0.1)
            m.momentum = 0.1


def mini_vgg(cfg_name, classes):
    cfg = [v if v == "M" else v // VGG_DIV for v in vgg.cfgs[cfg_name]]
    model = vgg.VGG(vgg.make_layers(cfg), num_classes=classes, init_weights=True)
    c = cfg[-2]
    h = 4096 // VGG_DIV
    # torchvision's classifier, narrower: the same indices 0, 3, 6.
    model.classifier = nn.Sequential(
        nn.Linear(c * 7 * 7, h), nn.ReLU(True), nn.Dropout(),
        nn.Linear(h, h), nn.ReLU(True), nn.Dropout(),
        nn.Linear(h, classes),
    )
    return model


def mini_alexnet(classes):
    model = torchvision.models.AlexNet(num_classes=classes)
    w = [64 // DIV, 192 // DIV, 384 // DIV, 256 // DIV, 256 // DIV]
    h = 4096 // DIV
    model.features = nn.Sequential(
        nn.Conv2d(3, w[0], kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(w[0], w[1], kernel_size=5, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(w[1], w[2], kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(w[2], w[3], kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(w[3], w[4], kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )
    model.classifier = nn.Sequential(
        nn.Dropout(p=0.5), nn.Linear(w[4] * 6 * 6, h), nn.ReLU(inplace=True),
        nn.Dropout(p=0.5), nn.Linear(h, h), nn.ReLU(inplace=True),
        nn.Linear(h, classes),
    )
    return model


class MiniResNet(resnet.ResNet):
    """torchvision's ResNet with every width divided by DIV (its own Bottleneck and forward)."""

    def __init__(self, layers, classes):
        super().__init__(resnet.Bottleneck, layers, num_classes=classes)
        self.conv1 = nn.Conv2d(3, 64 // DIV, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64 // DIV)
        self.fc = nn.Linear(512 // DIV * resnet.Bottleneck.expansion, classes)

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        if planes == 64:
            self.inplanes = 64 // DIV
        return super()._make_layer(block, planes // DIV, blocks, stride, dilate)


def save(model, name, shape, batch, out, gen, dtype=None):
    randomise_bn(model, gen, shape)
    model.eval()
    if dtype is not None:
        # Stored in half precision: the reference runs the rounded weights in f32.
        with torch.no_grad():
            for p in model.state_dict().values():
                if p.is_floating_point():
                    p.copy_(p.to(dtype).float())
    # Images as bytes (small files), scaled to [0, 1] as the model sees them.
    pixels = torch.randint(0, 256, (batch, shape[0], shape[1], 3), generator=gen, dtype=torch.uint8)
    x = pixels.float() / 255
    with torch.no_grad():
        logits = model(x.permute(0, 3, 1, 2).contiguous())
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    if dtype is not None:
        state = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in state.items()}
    save_file(state, os.path.join(out, f"{name}.safetensors"))
    save_file({"pixels": pixels.contiguous(), "logits": logits.contiguous()},
              os.path.join(out, f"{name}.io.safetensors"))
    params = sum(p.numel() for p in model.parameters())
    print(f"{name}: {params:,} parameters, logits {tuple(logits.shape)}")
    return {"input_shape": [shape[0], shape[1], 3], "classes": logits.shape[1], "params": params}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--full", action="store_true", help="torchvision's full-size vgg16, alexnet, resnet50")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(2)
    gen = torch.Generator().manual_seed(1)
    made = {}
    if a.full:
        for name in ["vgg16", "alexnet", "resnet50"]:
            model = getattr(torchvision.models, name)(weights=None)
            made[name] = {"arch": name, "width_divisor": 1,
                          **save(model, name, (224, 224), 2, a.out, gen)}
    else:
        made["vgg16-mini"] = {"arch": "vgg16", "width_divisor": VGG_DIV,
                              **save(mini_vgg("D", 10), "vgg16-mini", (224, 224), 2, a.out, gen)}
        made["vgg11-mini-448"] = {"arch": "vgg11", "width_divisor": VGG_DIV,
                                  **save(mini_vgg("A", 5), "vgg11-mini-448", (448, 448), 1, a.out, gen)}
        made["alexnet-mini"] = {"arch": "alexnet", "width_divisor": DIV,
                                **save(mini_alexnet(10), "alexnet-mini", (224, 224), 2, a.out, gen)}
        made["resnet50-mini"] = {"arch": "resnet50", "width_divisor": DIV,
                                 **save(MiniResNet([3, 4, 6, 3], 10), "resnet50-mini", (64, 64), 2, a.out, gen)}
        made["resnet50-mini-bf16"] = {"arch": "resnet50", "width_divisor": DIV,
                                      **save(MiniResNet([3, 4, 6, 3], 10), "resnet50-mini-bf16", (64, 64), 2,
                                             a.out, gen, dtype=torch.bfloat16)}
    manifest = {"torch": torch.__version__, "torchvision": torchvision.__version__,
                "numpy": np.__version__, "models": made}
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
