//! Times Easel's CPU kernels on the SD-Turbo UNet's and autoencoder's shapes (3×3
//! convolutions, 2× upsampling + convolution, self-attention at 64²), as medians, with
//! the convolutions' rate in "direct" GFLOP/s (the FLOPs of a plain convolution over the
//! time; Winograd does fewer). For comparing kernel changes on one machine; the whole
//! pipeline against diffusers is `bench/diffusion/run.sh`.
//!
//! `RAYON_NUM_THREADS=2 cargo run --release -p easel-diffusion --example kernels [REPS]`

use std::time::Instant;

use easel_diffusion::kernels::{ConvShape, attention, conv2d, upsample2x_conv3x3};

/// Deterministic values in [-0.5, 0.5) (any will do: the kernels' time does not
/// depend on them).
fn values(n: usize, step: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * step) % 1000) as f32 / 1000.0 - 0.5)
        .collect()
}

/// The median of `reps` runs of `f`, in seconds.
fn median(reps: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[reps / 2]
}

fn main() {
    let reps: usize = std::env::args()
        .nth(1)
        .map_or(5, |a| a.parse().expect("REPS"));
    let shape = |side, c_in, c_out| ConvShape {
        batch: 1,
        c_in,
        c_out,
        height: side,
        width: side,
        kernel: 3,
        stride: 1,
        padding: 1,
    };
    let convolutions = [
        (64, 320, 320),
        (32, 640, 640),
        (16, 1280, 1280),
        (16, 2560, 1280),
        (8, 1280, 1280),
        (512, 128, 128),
        (256, 256, 256),
        (128, 512, 512),
    ];
    for (side, c_in, c_out) in convolutions {
        let s = shape(side, c_in, c_out);
        let (input, weight) = (
            values(c_in * side * side, 7919),
            values(c_out * c_in * 9, 104_729),
        );
        let bias = vec![0.1f32; c_out];
        let t = median(reps, || {
            std::hint::black_box(conv2d(&input, &weight, Some(&bias), None, s));
        });
        let flops = 2.0 * (side * side * c_in * c_out * 9) as f64;
        println!(
            "conv {side}² {c_in}→{c_out}: {:.1} ms ({:.0} direct GFLOP/s)",
            t * 1e3,
            flops / t / 1e9
        );
    }
    for (side, channels) in [(8, 1280), (16, 1280), (32, 640), (128, 512), (256, 256)] {
        let s = shape(side, channels, channels);
        let input = values(channels * side * side, 7919);
        let weight = values(channels * channels * 9, 104_729);
        let t = median(reps, || {
            std::hint::black_box(upsample2x_conv3x3(&input, &weight, None, s));
        });
        let flops = 2.0 * (4 * side * side * channels * channels * 9) as f64;
        println!(
            "upsample + conv {side}²→{}² {channels}: {:.1} ms ({:.0} direct GFLOP/s)",
            2 * side,
            t * 1e3,
            flops / t / 1e9
        );
    }
    let (tokens, width, heads) = (4096, 320, 5);
    let (q, k, v) = (
        values(tokens * width, 7919),
        values(tokens * width, 104_729),
        values(tokens * width, 31),
    );
    let t = median(reps, || {
        std::hint::black_box(attention(
            &q,
            &k,
            &v,
            (1, tokens, tokens),
            heads,
            0.125,
            false,
        ));
    });
    let flops = 4.0 * (tokens * tokens * width) as f64;
    println!(
        "attention {tokens} tokens × {heads} heads of {}: {:.1} ms ({:.0} GFLOP/s)",
        width / heads,
        t * 1e3,
        flops / t / 1e9
    );
}
