"""The PyTorch side of bench/diffusion.

`make DIR`: writes an SD-Turbo-architecture pipeline with random weights (seeded) in the
diffusers layout, built from config dicts (nothing is downloaded): the UNet, VAE and
text encoder configurations are stabilityai/sd-turbo's; the tokenizer is a byte-level
CLIP vocabulary (CLIP's real one cannot be downloaded here; it only changes token ids).

`run DIR RUNS SIZE STEPS THREADS`: times diffusers on that directory exactly as the
Easel example times its pipeline (text encoding, UNet step, VAE decode, whole image,
medians after a warm-up) and prints one JSON object with the peak RSS.
"""

import json
import os
import resource
import statistics
import sys
import time


def byte_vocab(dir_):
    # GPT-2 / CLIP byte-to-unicode map.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    chars = [chr(c) for c in cs]
    vocab = {}
    for c in chars:
        vocab[c] = len(vocab)
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    os.makedirs(dir_, exist_ok=True)
    with open(os.path.join(dir_, "vocab.json"), "w") as f:
        json.dump(vocab, f)
    with open(os.path.join(dir_, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n")


def make(out):
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=64,
        in_channels=4,
        out_channels=4,
        block_out_channels=(320, 640, 1280, 1280),
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        layers_per_block=2,
        attention_head_dim=(5, 10, 20, 20),
        cross_attention_dim=1024,
        use_linear_projection=True,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=2,
        latent_channels=4,
        norm_num_groups=32,
        sample_size=768,
        scaling_factor=0.18215,
    )
    text = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=49408,
            hidden_size=1024,
            intermediate_size=4096,
            num_hidden_layers=23,
            num_attention_heads=16,
            max_position_embeddings=77,
            hidden_act="gelu",
            projection_dim=512,
            layer_norm_eps=1e-5,
        )
    )
    tok_dir = os.path.join(out, "_tokenizer_src")
    byte_vocab(tok_dir)
    tokenizer = CLIPTokenizer(
        os.path.join(tok_dir, "vocab.json"),
        os.path.join(tok_dir, "merges.txt"),
        pad_token="!",
        model_max_length=77,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="trailing",
        steps_offset=1,
        prediction_type="epsilon",
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(out, safe_serialization=True)


def run(model, runs, size, steps, threads):
    import torch
    from diffusers import StableDiffusionPipeline

    torch.set_num_threads(threads)
    started = time.perf_counter()
    pipe = StableDiffusionPipeline.from_pretrained(model, safety_checker=None, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    load = time.perf_counter() - started
    prompt = "a photograph of an astronaut riding a horse"
    text_t, unet_t, decode_t, whole_t = [], [], [], []
    latent = size // 8
    with torch.inference_mode():
        for i in range(runs + 1):
            g = torch.Generator().manual_seed(0)
            t0 = time.perf_counter()
            pipe(prompt, num_inference_steps=steps, guidance_scale=0.0, height=size, width=size, generator=g, output_type="pil")
            whole = time.perf_counter() - t0
            # The components alone, on the same shapes.
            t0 = time.perf_counter()
            ids = pipe.tokenizer(prompt, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
            emb = pipe.text_encoder(ids)[0]
            text = time.perf_counter() - t0
            lat = torch.randn((1, 4, latent, latent), generator=g)
            t0 = time.perf_counter()
            pipe.unet(lat, 999, encoder_hidden_states=emb).sample
            unet = time.perf_counter() - t0
            t0 = time.perf_counter()
            pipe.vae.decode(lat / pipe.vae.config.scaling_factor).sample
            decode = time.perf_counter() - t0
            if i == 0:
                continue  # warm-up
            whole_t.append(whole)
            text_t.append(text)
            unet_t.append(unet)
            decode_t.append(decode)
    print(
        json.dumps(
            {
                "load_s": load,
                "text_s": statistics.median(text_t),
                "unet_step_s": statistics.median(unet_t),
                "vae_decode_s": statistics.median(decode_t),
                "image_s": statistics.median(whole_t),
                "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "runs": runs,
                "size": size,
                "steps": steps,
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        run(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
