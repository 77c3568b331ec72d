"""Tiny, randomly initialised Hugging Face models saved like real checkpoints.

Why this lives in the package: the tests and ``benchmark/gpu_smoke.py`` must exercise the production backends
end to end (``from_pretrained`` from a directory, processors, schedulers, the registry) without any download,
and both need exactly the same models. Every builder writes a directory that the matching backend loads with
``diffusers:<dir>`` / ``transformers:<dir>``. Weights are seeded so runs are reproducible; outputs are noise.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte -> printable unicode character table (a published, fixed convention)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars), strict=True))


def write_clip_tokenizer_files(out_dir: Path) -> tuple[Path, Path]:
    """A complete byte-level CLIP BPE vocabulary with a handful of merges: every text tokenises, offline."""
    out_dir.mkdir(parents=True, exist_ok=True)
    symbols = list(_bytes_to_unicode().values())
    merges = [("a", "b"), ("c", "d"), ("t", "h"), ("th", "e</w>"), ("o", "n</w>")]
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys(tokens))}
    vocab_path, merges_path = out_dir / "vocab.json", out_dir / "merges.txt"
    vocab_path.write_text(json.dumps(vocab), encoding="utf-8")
    merges_path.write_text("#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in merges) + "\n", encoding="utf-8")
    return vocab_path, merges_path


def build_tiny_inpaint_pipeline(out_dir: str | Path, seed: int = 0, sample_size: int = 32) -> Path:
    """StableDiffusionInpaintPipeline with a 9-channel UNet, 2-level VAE and CLIP text encoder; ~1 MB."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    out = Path(out_dir)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(16, 32),
        layers_per_block=1,
        sample_size=sample_size // 2,
        in_channels=9,  # 4 noisy latents + 4 masked-image latents + 1 mask
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=4,
        norm_num_groups=8,
    )
    vae = AutoencoderKL(
        block_out_channels=[16, 16],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        norm_num_groups=8,
        sample_size=sample_size,
    )
    text_config = CLIPTextConfig(
        bos_token_id=0, eos_token_id=2, pad_token_id=1, hidden_size=16, intermediate_size=32, num_attention_heads=2,
        num_hidden_layers=2, vocab_size=1000, max_position_embeddings=77, projection_dim=16,
    )
    text_encoder = CLIPTextModel(text_config)
    with tempfile.TemporaryDirectory() as tmp:
        vocab, merges = write_clip_tokenizer_files(Path(tmp))
        tokenizer = CLIPTokenizer(str(vocab), str(merges), model_max_length=77)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionInpaintPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.save_pretrained(out)
    return out


def build_tiny_dpt(out_dir: str | Path, seed: int = 0) -> Path:
    """DPT (MiDaS-style, relative inverse depth) with a 4-layer ViT; processor resizes to 32x32."""
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    torch.manual_seed(seed)
    config = DPTConfig(
        image_size=32, patch_size=8, num_channels=3, hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
        intermediate_size=32, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 8, 16, 16],
        fusion_hidden_size=8, head_hidden_size=8,
    )
    model = DPTForDepthEstimation(config)
    out = Path(out_dir)
    model.save_pretrained(out)
    DPTImageProcessor(size={"height": 32, "width": 32}, keep_aspect_ratio=False).save_pretrained(out)
    return out


def build_tiny_depth_anything(out_dir: str | Path, seed: int = 0, metric: bool = False) -> Path:
    """Depth Anything (DINOv2 backbone, relative inverse depth unless ``metric``); processor resizes to 28."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config, DPTImageProcessor

    torch.manual_seed(seed)
    backbone = Dinov2Config(
        image_size=28, patch_size=14, hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
        intermediate_size=32, out_features=["stage1", "stage2", "stage3", "stage4"], reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone, patch_size=14, reassemble_hidden_size=16, neck_hidden_sizes=[8, 8, 16, 16],
        fusion_hidden_size=8, head_hidden_size=8,
        depth_estimation_type="metric" if metric else "relative", max_depth=10 if metric else 1,
    )
    model = DepthAnythingForDepthEstimation(config)
    out = Path(out_dir)
    model.save_pretrained(out)
    DPTImageProcessor(size={"height": 28, "width": 28}, keep_aspect_ratio=False, ensure_multiple_of=14,
                      image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225]).save_pretrained(out)
    return out
