//! Times Easel's diffusion pipeline on a model directory, for bench/diffusion: load,
//! text encoding, UNet step, autoencoder decode and a whole text-to-image, as medians
//! over several runs after a warm-up, plus the process's peak resident memory. Prints
//! one JSON object.
//!
//! `cargo run --release -p easel-diffusion --example bench -- MODEL_DIR [RUNS] [SIZE] [STEPS]`

use std::time::{Duration, Instant};

use candle_core::Device;
use easel_diffusion::{Job, Mode, ModelFiles, Pipeline};

fn median(mut values: Vec<Duration>) -> f64 {
    values.sort();
    values[values.len() / 2].as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = args
        .get(1)
        .expect("usage: bench MODEL_DIR [RUNS] [SIZE] [STEPS]");
    let runs: usize = args.get(2).map_or(5, |a| a.parse().expect("RUNS"));
    let size: usize = args.get(3).map_or(512, |a| a.parse().expect("SIZE"));
    let steps: usize = args.get(4).map_or(1, |a| a.parse().expect("STEPS"));

    let started = Instant::now();
    let files = ModelFiles::open(std::path::Path::new(dir), "bench").expect("model");
    let pipeline = Pipeline::load(&files, &Device::Cpu).expect("load");
    let load = started.elapsed();

    let job = Job {
        prompt: "a photograph of an astronaut riding a horse".to_owned(),
        negative: String::new(),
        width: size,
        height: size,
        steps,
        guidance: 0.0,
        seed: 0,
        mode: Mode::TextToImage,
    };
    let (mut text, mut unet, mut decode, mut whole) = (vec![], vec![], vec![], vec![]);
    for run in 0..=runs {
        let started = Instant::now();
        let (_, timings) = pipeline
            .generate_timed(&job, &mut |_, _| true)
            .expect("generate");
        let elapsed = started.elapsed();
        if run == 0 {
            continue; // warm-up
        }
        whole.push(elapsed);
        text.push(timings.text);
        unet.extend(timings.steps);
        decode.push(timings.decode);
    }
    println!(
        "{}",
        serde_json::json!({
            "load_s": load.as_secs_f64(),
            "text_s": median(text),
            "unet_step_s": median(unet),
            "vae_decode_s": median(decode),
            "image_s": median(whole),
            "peak_rss_bytes": easel_diffusion::engine::peak_rss_bytes().unwrap_or(0),
            "runs": runs,
            "size": size,
            "steps": steps,
        })
    );
}
