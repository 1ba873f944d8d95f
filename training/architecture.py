"""The demo cascade's shapes: IF's block types, configs and file layout, made small.

Stage I is IF-I-XL's UNet (ResNet blocks on top, IF's simple cross-attention below,
pooled-text addition embedding, 6 output channels) at 32 px; stage II is IF-II-L's SR
UNet (noise-level class embedding, cross-attention only, scaled residuals) making 128 px
from a 32 px picture; the text encoder is a T5 v1.1 encoder with a sentencepiece
tokenizer. The schedulers are IF's, except that the variance is ``fixed_small``: the
demo learns no variance, so the last three output channels are unused.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

STAGE_1_SIDE = 32
STAGE_2_SIDE = 128
T5_WIDTH = 128
MAX_TOKENS = 77  # IF pads every prompt to 77 tokens

T5_CONFIG: dict[str, Any] = {
    "d_model": T5_WIDTH,
    "d_kv": 32,
    "d_ff": 256,
    "num_layers": 3,
    "num_heads": 4,
    "feed_forward_proj": "gated-gelu",
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "dropout_rate": 0.0,
    "layer_norm_epsilon": 1e-6,
    "tie_word_embeddings": False,
    "is_encoder_decoder": False,
    "use_cache": False,
}

_IF_UNET_COMMON: dict[str, Any] = {
    "out_channels": 6,
    "layers_per_block": 1,
    "mid_block_type": "UNetMidBlock2DSimpleCrossAttn",
    "attention_head_dim": 32,
    "encoder_hid_dim": T5_WIDTH,
    "encoder_hid_dim_type": "text_proj",
    "addition_embed_type": "text",
    "addition_embed_type_num_heads": 2,
    "act_fn": "gelu",
    "resnet_time_scale_shift": "scale_shift",
    "cross_attention_norm": "group_norm",
    "upcast_attention": False,
    "use_linear_projection": False,
}

STAGE_1_UNET: dict[str, Any] = {
    **_IF_UNET_COMMON,
    "sample_size": STAGE_1_SIDE,
    "in_channels": 3,
    "block_out_channels": [32, 64, 128],
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
    "cross_attention_dim": 128,
    "class_embed_type": None,
    "only_cross_attention": False,
    "norm_num_groups": 16,
}

STAGE_2_UNET: dict[str, Any] = {
    **_IF_UNET_COMMON,
    "sample_size": STAGE_2_SIDE,
    "in_channels": 6,
    "block_out_channels": [16, 32, 64, 64],
    "down_block_types": [
        "ResnetDownsampleBlock2D",
        "ResnetDownsampleBlock2D",
        "ResnetDownsampleBlock2D",
        "SimpleCrossAttnDownBlock2D",
    ],
    "up_block_types": [
        "SimpleCrossAttnUpBlock2D",
        "ResnetUpsampleBlock2D",
        "ResnetUpsampleBlock2D",
        "ResnetUpsampleBlock2D",
    ],
    "cross_attention_dim": 64,
    "class_embed_type": "timestep",
    "time_embedding_act_fn": "gelu",
    "resnet_skip_time_act": True,
    "resnet_out_scale_factor": 1.4142271248762552,
    "mid_block_scale_factor": 1.4142271248762552,
    "only_cross_attention": True,
    "norm_num_groups": 8,
}

SCHEDULER: dict[str, Any] = {
    "_class_name": "DDPMScheduler",
    "beta_end": 0.02,
    "beta_schedule": "squaredcos_cap_v2",
    "beta_start": 0.0001,
    "clip_sample": True,
    "clip_sample_range": 1.0,
    "dynamic_thresholding_ratio": 0.95,
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "sample_max_value": 1.5,
    "steps_offset": 0,
    "thresholding": True,
    "trained_betas": None,
    "variance_type": "fixed_small",
}
# Both demo stages predict v: with epsilon, a picture's overall colour hangs on tiny
# differences in the noise predicted at high noise levels, and small UNets get it wrong
# (stage II shifted every colour; stage I drew the wrong backgrounds).
STAGE_1_SCHEDULER = {**SCHEDULER, "prediction_type": "v_prediction"}
STAGE_2_SCHEDULER = {**SCHEDULER, "sample_max_value": 1.0, "prediction_type": "v_prediction"}
IMAGE_NOISING_SCHEDULER = {**SCHEDULER, "clip_sample": False, "thresholding": False}


def sampler(schedule: dict[str, Any]) -> dict[str, Any]:
    """DPM-Solver++ (2M) over ``schedule``'s noise levels, with IF's dynamic thresholding.

    Stage I ships it instead of IF's DDPM: the demo's stage I follows its prompt far
    better in 20 DPM-Solver steps than in 30 DDPM steps, and needs 100 DDPM steps to
    get backgrounds as right.
    """
    same = ("beta_schedule", "beta_start", "beta_end", "num_train_timesteps", "prediction_type")
    same += ("thresholding", "dynamic_thresholding_ratio", "sample_max_value")
    return {
        "_class_name": "DPMSolverMultistepScheduler",
        **{key: schedule[key] for key in same},
        "algorithm_type": "dpmsolver++",
        "solver_order": 2,
        "lower_order_final": True,
    }


STAGE_1_SAMPLER = sampler(STAGE_1_SCHEDULER)


def model_index(
    pipeline_class: str, scheduler: dict[str, Any], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """IF's model_index.json, with the parts the demo has not (checker, watermark) empty."""
    return {
        "_class_name": pipeline_class,
        "feature_extractor": [None, None],
        "requires_safety_checker": False,
        "safety_checker": [None, None],
        "scheduler": ["diffusers", scheduler["_class_name"]],
        "text_encoder": ["transformers", "T5EncoderModel"],
        "tokenizer": ["transformers", "T5Tokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "watermarker": [None, None],
        **(extra or {}),
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def write_t5_tokenizer(
    folder: Path,
    sentences: list[str],
    vocab_size: int,
    seed_pieces: int = 10000,
    config_extra: dict[str, Any] | None = None,
) -> int:
    """A sentencepiece unigram tokenizer laid out like IF's (``spiece.model`` + json).

    Returns the encoder's vocabulary size: the pieces plus T5's 100 ``<extra_id_N>``.
    ``config_extra`` adds keys to ``tokenizer_config.json``.
    """
    import sentencepiece as spm

    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=buffer,
        vocab_size=vocab_size,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        hard_vocab_limit=False,
        character_coverage=1.0,
        minloglevel=2,
        num_threads=1,
        seed_sentencepiece_size=seed_pieces,
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spiece.model").write_bytes(buffer.getvalue())
    extra_ids = [f"<extra_id_{i}>" for i in range(100)]
    special = {"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
    write_json(
        folder / "special_tokens_map.json", {**special, "additional_special_tokens": extra_ids}
    )
    write_json(
        folder / "tokenizer_config.json",
        {
            **special,
            "additional_special_tokens": extra_ids,
            "extra_ids": 100,
            "model_max_length": 512,
            "sp_model_kwargs": {},
            "tokenizer_class": "T5Tokenizer",
            **(config_extra or {}),
        },
    )
    from sentencepiece import SentencePieceProcessor

    return SentencePieceProcessor(model_proto=buffer.getvalue()).get_piece_size() + 100
