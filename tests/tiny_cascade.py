"""Tiny random IF cascades written in the exact on-disk layout of the published repos.

The real weights cannot be downloaded here, so tests build models that differ from
DeepFloyd/IF-I-XL-v1.0, DeepFloyd/IF-II-L-v1.0 and stabilityai/stable-diffusion-x4-upscaler
only in width: same folder names, ``model_index.json`` classes, config keys, block types,
fp16 variant file names (a sharded T5 with ``model.safetensors.index.fp16.json``),
sentencepiece ``spiece.model`` tokenizer, safety checker, watermarker and the
original-format pickles the real repos also hold (which if-cli must never load).

Resolutions are the real ones (64 → 256 → 1024 px) so the cascade's shapes are proven.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from training.architecture import SCHEDULER as DEMO_SCHEDULER
from training.architecture import write_json
from training.architecture import write_t5_tokenizer as write_sentencepiece

SEED = 0
T5_WIDTH = 32

_SP_SENTENCES = [
    "a photo of a corgi wearing a top hat with the sign",
    "a red circle above a blue square on a white background",
    "a green triangle left of a yellow star in the centre",
    "an oil painting of a cat and a dog under the moon",
]

# IF-I-XL's scheduler: the demo's, with the learned variance IF's UNets predict.
IF_STAGE_1_SCHEDULER = {
    **DEMO_SCHEDULER,
    "_diffusers_version": "0.16.0",
    "variance_type": "learned_range",
}
IF_STAGE_2_SCHEDULER = {**IF_STAGE_1_SCHEDULER, "sample_max_value": 1.0}
IF_IMAGE_NOISING_SCHEDULER = {
    **IF_STAGE_1_SCHEDULER,
    "clip_sample": False,
    "thresholding": False,
    "variance_type": "fixed_small",
}

STAGE_1_UNET = {
    "sample_size": 64,
    "in_channels": 3,
    "out_channels": 6,
    "block_out_channels": [16, 32],
    "layers_per_block": 1,
    "down_block_types": ["ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"],
    "up_block_types": ["SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"],
    "mid_block_type": "UNetMidBlock2DSimpleCrossAttn",
    "attention_head_dim": 8,
    "cross_attention_dim": 32,
    "encoder_hid_dim": T5_WIDTH,
    "encoder_hid_dim_type": "text_proj",
    "addition_embed_type": "text",
    "addition_embed_type_num_heads": 2,
    "class_embed_type": None,
    "act_fn": "gelu",
    "resnet_time_scale_shift": "scale_shift",
    "cross_attention_norm": "group_norm",
    "only_cross_attention": False,
    "upcast_attention": False,
    "use_linear_projection": False,
    "norm_num_groups": 8,
}

STAGE_2_UNET = {
    **STAGE_1_UNET,
    "sample_size": 256,
    "in_channels": 6,
    "block_out_channels": [8, 16, 32],
    "layers_per_block": [1, 1, 1],
    "down_block_types": [
        "ResnetDownsampleBlock2D",
        "ResnetDownsampleBlock2D",
        "SimpleCrossAttnDownBlock2D",
    ],
    "up_block_types": [
        "SimpleCrossAttnUpBlock2D",
        "ResnetUpsampleBlock2D",
        "ResnetUpsampleBlock2D",
    ],
    "class_embed_type": "timestep",
    "time_embedding_dim": 32,
    "time_embedding_act_fn": "gelu",
    "resnet_skip_time_act": True,
    "resnet_out_scale_factor": 1.4142271248762552,
    "mid_block_scale_factor": 1.4142271248762552,
    "only_cross_attention": True,
}

X4_UNET = {
    "sample_size": 128,
    "in_channels": 7,
    "out_channels": 4,
    "block_out_channels": [8, 8, 16, 16],
    "layers_per_block": 1,
    "down_block_types": [
        "DownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
    ],
    "up_block_types": [
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
        "UpBlock2D",
    ],
    "only_cross_attention": [True, True, True, False],
    "attention_head_dim": 2,
    "cross_attention_dim": 16,
    "num_class_embeds": 1000,
    "use_linear_projection": True,
    "act_fn": "silu",
    "norm_num_groups": 4,
}

X4_VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
    "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
    "block_out_channels": [4, 4, 8],
    "layers_per_block": 1,
    "latent_channels": 4,
    "norm_num_groups": 2,
    "sample_size": 256,
    "scaling_factor": 0.08333,
    # The published VAE's mid-block attention runs over every latent pixel: at 256 x 256
    # that is 65 536 tokens, 10 s of a 12 s tiny stage III on one core, and it is
    # diffusers' code alone (if-cli changes nothing in the VAE). The tests go without it.
    "mid_block_add_attention": False,
}

X4_DDIM_SCHEDULER = {
    "_class_name": "DDIMScheduler",
    "_diffusers_version": "0.8.0",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "prediction_type": "v_prediction",
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "trained_betas": None,
}
X4_LOW_RES_SCHEDULER = {
    "_class_name": "DDPMScheduler",
    "_diffusers_version": "0.8.0",
    "beta_end": 0.02,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.0001,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "trained_betas": None,
    "variance_type": "fixed_small",
}


T5_ENCODER = {
    "d_model": T5_WIDTH,
    "d_kv": 8,
    "d_ff": 64,
    "num_layers": 2,
    "num_heads": 4,
    "feed_forward_proj": "gated-gelu",
    "relative_attention_num_buckets": 8,
    "relative_attention_max_distance": 16,
    "dropout_rate": 0.0,
    "layer_norm_epsilon": 1e-6,
    "tie_word_embeddings": False,
    "is_encoder_decoder": False,
    "use_cache": False,
}
X4_CLIP_TEXT = {
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "max_position_embeddings": 77,
    "hidden_act": "gelu",
    "projection_dim": 16,
}


@dataclass(frozen=True)
class Architecture:
    """The constructor kwargs of every model in the cascade; only widths differ by size."""

    t5_encoder: dict[str, Any]
    stage_1_unet: dict[str, Any]
    stage_2_unet: dict[str, Any]
    x4_unet: dict[str, Any]
    x4_vae: dict[str, Any]
    x4_clip_text: dict[str, Any]


TINY = Architecture(T5_ENCODER, STAGE_1_UNET, STAGE_2_UNET, X4_UNET, X4_VAE, X4_CLIP_TEXT)


def _fp16_exact(model: torch.nn.Module) -> torch.nn.Module:
    """Round weights through fp16, so the fp32 and fp16 files hold the same values.

    The published fp16 files are casts of the fp32 ones; with this, which file a loader
    picks never changes a result, and parity tests compare the math alone.
    """
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(tensor.half().float())
    return model


def _save_with_fp16_variant(model: torch.nn.Module, folder: Path, **options: Any) -> None:
    """Save fp32 and fp16-variant safetensors, as the published repos hold both."""
    _fp16_exact(model).save_pretrained(folder, safe_serialization=True, **options)
    model.to(torch.float16).save_pretrained(
        folder, safe_serialization=True, variant="fp16", **options
    )
    model.to(torch.float32)


def _save_fp16_only(model: torch.nn.Module, folder: Path, **options: Any) -> None:
    """Full-size random models: the fp16 files alone (fp32 copies would fill the disk)."""
    options.pop("max_shard_size", None)
    model.to(torch.float16).save_pretrained(folder, safe_serialization=True, variant="fp16")


@dataclass(frozen=True)
class _Writing:
    """How a cascade is written: its architecture, and tiny test copies or full-size ones."""

    arch: Architecture = TINY
    full_size: bool = False

    def save(self, model: torch.nn.Module, folder: Path, **options: Any) -> None:
        (_save_fp16_only if self.full_size else _save_with_fp16_variant)(model, folder, **options)

    def stand_ins(self, repo: Path, original: str = "pytorch_model.bin") -> None:
        if not self.full_size:  # pickles the size of a full-size fp32 UNet are no use
            write_pickle_stand_ins(repo, original)


def write_pickle_stand_ins(repo: Path, original: str = "pytorch_model.bin") -> None:
    """The real repos also hold pickles: a ``.bin`` beside every safetensors file (same
    size) and the original-format checkpoint at the root (the size of the fp32 UNet).
    These are not pickles at all, so loading one by mistake fails loudly."""
    for weights in sorted(repo.glob("*/*.safetensors")):
        name = weights.name.replace(".safetensors", ".bin")
        if name.startswith("model"):  # transformers names its pickles pytorch_model*.bin
            name = f"pytorch_{name}"
        _write_stand_in(weights.with_name(name), weights.stat().st_size)
    _write_stand_in(
        repo / original, (repo / "unet/diffusion_pytorch_model.safetensors").stat().st_size
    )


def _write_stand_in(path: Path, size: int) -> None:
    """Distinct bytes per file (equal contents would be one blob in the hub cache)."""
    filler = f"not a pickle ({path.parent.name}/{path.name}): never load this. ".encode()
    path.write_bytes((filler * (size // len(filler) + 1))[:size])


def write_t5_tokenizer(folder: Path) -> int:
    """Write a sentencepiece tokenizer folder like IF's (spiece.model + json); return its size."""
    return write_sentencepiece(
        folder,
        _SP_SENTENCES * 4,
        vocab_size=80,
        seed_pieces=1000,
        config_extra={"name_or_path": "t5-11b", "special_tokens_file": None},
    )


def _bytes_to_unicode() -> list[str]:
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return [chr(code) for code in codes]


def write_clip_tokenizer(folder: Path) -> int:
    """Write a byte-level BPE CLIP tokenizer (vocab.json + merges.txt); return its size."""
    chars = _bytes_to_unicode()
    vocab: dict[str, int] = {}
    for token in chars + [c + "</w>" for c in chars] + ["or", "th", "the</w>"]:
        vocab[token] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\no r\nt h\nth e</w>\n")
    special = {
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
    }
    write_json(folder / "special_tokens_map.json", special)
    write_json(
        folder / "tokenizer_config.json",
        {
            **special,
            "model_max_length": 77,
            "do_lower_case": True,
            "errors": "replace",
            "tokenizer_class": "CLIPTokenizer",
        },
    )
    return len(vocab)


def _write_t5_encoder(folder: Path, vocab_size: int, writing: _Writing) -> None:
    """A T5 v1.1-style encoder saved sharded, like IF-I-XL's two-shard text_encoder."""
    from transformers import T5Config, T5EncoderModel

    kwargs = writing.arch.t5_encoder
    config = T5Config(**{**kwargs, "vocab_size": max(vocab_size, kwargs.get("vocab_size", 0))})
    # Small shards make both variants sharded, like IF-I-XL's two-shard text_encoder.
    writing.save(T5EncoderModel(config).eval(), folder, max_shard_size="20KB")


def _write_safety_checker(folder: Path) -> None:
    """IFSafetyChecker weights; present in the real repos, unloadable under transformers 5."""
    from safetensors.torch import save_file
    from transformers import CLIPConfig, CLIPVisionModelWithProjection

    vision = {
        "hidden_size": 8,
        "intermediate_size": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "image_size": 32,
        "patch_size": 8,
        "projection_dim": 8,
    }
    config = CLIPConfig(
        vision_config=vision,
        text_config={
            "hidden_size": 8,
            "intermediate_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "projection_dim": 8,
        },
        projection_dim=8,
    )
    vision_model = CLIPVisionModelWithProjection(config.vision_config)
    weights = {f"vision_model.{k}": v.contiguous() for k, v in vision_model.state_dict().items()}
    weights.update(
        {
            f"{head}.{k}": v
            for head in ("p_head", "w_head")
            for k, v in torch.nn.Linear(8, 1).state_dict().items()
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    config_dict = config.to_dict()
    config_dict["architectures"] = ["IFSafetyChecker"]
    write_json(folder / "config.json", config_dict)
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    save_file(
        {k: v.half() for k, v in weights.items()},
        folder / "model.fp16.safetensors",
        metadata={"format": "pt"},
    )


def _write_watermarker(folder: Path) -> None:
    from diffusers.pipelines.deepfloyd_if.watermark import IFWatermarker

    watermarker = IFWatermarker()
    mark = torch.zeros((62, 62, 4))
    mark[8:54, 8:54, 0] = 255.0  # a red square, fully opaque where drawn
    mark[8:54, 8:54, 3] = 255.0
    watermarker.watermark_image.copy_(mark)
    watermarker.save_pretrained(folder, safe_serialization=True)


def _write_feature_extractor(folder: Path) -> None:
    write_json(
        folder / "preprocessor_config.json",
        {
            "crop_size": {"height": 224, "width": 224},
            "do_center_crop": True,
            "do_convert_rgb": True,
            "do_normalize": True,
            "do_rescale": True,
            "do_resize": True,
            "image_mean": [0.48145466, 0.4578275, 0.40821073],
            "image_processor_type": "CLIPImageProcessor",
            "image_std": [0.26862954, 0.26130258, 0.27577711],
            "resample": 3,
            "rescale_factor": 0.00392156862745098,
            "size": {"shortest_edge": 224},
        },
    )


def _if_model_index(pipeline_class: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    index: dict[str, Any] = {
        "_class_name": pipeline_class,
        "_diffusers_version": "0.16.0",
        "feature_extractor": ["transformers", "CLIPImageProcessor"],
        "requires_safety_checker": True,
        "safety_checker": ["deepfloyd_if", "IFSafetyChecker"],
        "scheduler": ["diffusers", "DDPMScheduler"],
        "text_encoder": ["transformers", "T5EncoderModel"],
        "tokenizer": ["transformers", "T5Tokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "watermarker": ["deepfloyd_if", "IFWatermarker"],
    }
    index.update(extra or {})
    return index


def _write_if_common(
    repo: Path, scheduler: dict[str, Any], writing: _Writing, encoder: bool = True
) -> None:
    vocab_size = write_t5_tokenizer(repo / "tokenizer")
    if encoder:
        _write_t5_encoder(repo / "text_encoder", vocab_size, writing)
    write_json(repo / "scheduler" / "scheduler_config.json", scheduler)
    _write_safety_checker(repo / "safety_checker")
    _write_watermarker(repo / "watermarker")
    _write_feature_extractor(repo / "feature_extractor")
    (repo / "config.yml").write_text("# original deepfloyd_if format lives here too\n")


def write_stage_1_repo(
    repo: Path, unet_config: dict[str, Any] | None = None, writing: _Writing = _Writing()
) -> Path:
    """A repo laid out like DeepFloyd/IF-I-XL-v1.0 (diffusers format + original files)."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(SEED)
    write_json(repo / "model_index.json", _if_model_index("IFPipeline"))
    _write_if_common(repo, IF_STAGE_1_SCHEDULER, writing)
    unet = UNet2DConditionModel(**(unet_config or writing.arch.stage_1_unet))
    writing.save(unet, repo / "unet")
    writing.stand_ins(repo)
    return repo


def write_stage_2_repo(
    repo: Path, unet_config: dict[str, Any] | None = None, writing: _Writing = _Writing()
) -> Path:
    """A repo laid out like DeepFloyd/IF-II-L-v1.0."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(SEED + 1)
    index = _if_model_index(
        "IFSuperResolutionPipeline",
        {"image_noising_scheduler": ["diffusers", "DDPMScheduler"]},
    )
    write_json(repo / "model_index.json", index)
    # Stage II's copy of T5 is never loaded (stage I's encodes); full size it is 10 GB.
    _write_if_common(repo, IF_STAGE_2_SCHEDULER, writing, encoder=not writing.full_size)
    write_json(
        repo / "image_noising_scheduler" / "scheduler_config.json", IF_IMAGE_NOISING_SCHEDULER
    )
    unet = UNet2DConditionModel(**(unet_config or writing.arch.stage_2_unet))
    writing.save(unet, repo / "unet")
    writing.stand_ins(repo)
    return repo


def write_x4_upscaler_repo(repo: Path, writing: _Writing = _Writing()) -> Path:
    """A repo laid out like stabilityai/stable-diffusion-x4-upscaler."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(SEED + 2)
    write_json(
        repo / "model_index.json",
        {
            "_class_name": "StableDiffusionUpscalePipeline",
            "_diffusers_version": "0.8.0",
            "low_res_scheduler": ["diffusers", "DDPMScheduler"],
            "max_noise_level": 350,
            "scheduler": ["diffusers", "DDIMScheduler"],
            "text_encoder": ["transformers", "CLIPTextModel"],
            "tokenizer": ["transformers", "CLIPTokenizer"],
            "unet": ["diffusers", "UNet2DConditionModel"],
            "vae": ["diffusers", "AutoencoderKL"],
        },
    )
    vocab_size = write_clip_tokenizer(repo / "tokenizer")
    clip = writing.arch.x4_clip_text
    text_config = CLIPTextConfig(
        **{
            **clip,
            "vocab_size": max(vocab_size, clip.get("vocab_size", 0)),
            "bos_token_id": vocab_size - 2,
            "eos_token_id": vocab_size - 1,
            "pad_token_id": vocab_size - 1,
        }
    )
    writing.save(CLIPTextModel(text_config).eval(), repo / "text_encoder")
    writing.save(UNet2DConditionModel(**writing.arch.x4_unet), repo / "unet")
    writing.save(AutoencoderKL(**writing.arch.x4_vae), repo / "vae")
    write_json(repo / "scheduler" / "scheduler_config.json", X4_DDIM_SCHEDULER)
    write_json(repo / "low_res_scheduler" / "scheduler_config.json", X4_LOW_RES_SCHEDULER)
    writing.stand_ins(repo, original="x4-upscaler-ema.ckpt")
    return repo


def write_tiny_cascade(
    root: Path, arch: Architecture = TINY, full_size: bool = False
) -> dict[str, Path]:
    """Write all three repos under ``root``; return their folders by stage.

    ``full_size`` writes fp16 files only and no pickle stand-ins, for models with the
    published widths (benchmarks); build those under ``torch.device("cuda")`` to make
    their random weights on the GPU.
    """
    writing = _Writing(arch, full_size)
    return {
        "stage_1": write_stage_1_repo(root / "IF-I-XL-v1.0", writing=writing),
        "stage_2": write_stage_2_repo(root / "IF-II-L-v1.0", writing=writing),
        "stage_3": write_x4_upscaler_repo(root / "stable-diffusion-x4-upscaler", writing),
    }
