//! Times each convolution path on the layer shapes of YOLOv8n at 320 and 640: `cargo run
//! --release -p easel-kernels --example detect_convs [320|640]` (both by default), one
//! line per shape with each path's best milliseconds (of many runs: the least disturbed by other
//! processes) and GFLOP/s.

use std::time::Instant;

use easel_kernels::{Activation, ConvShape, DirectWeights, conv2d_detection};

/// (input channels, output channels, side at 320, kernel, stride).
const LAYERS: [(usize, usize, usize, usize, usize); 22] = [
    (3, 16, 320, 3, 2),
    (16, 32, 160, 3, 2),
    (16, 16, 80, 3, 1),
    (32, 64, 80, 3, 2),
    (32, 32, 40, 3, 1),
    (64, 64, 40, 3, 1),
    (64, 128, 40, 3, 2),
    (64, 64, 20, 3, 1),
    (128, 256, 20, 3, 2),
    (128, 128, 10, 3, 1),
    (128, 64, 20, 3, 1),
    (256, 64, 10, 3, 1),
    (64, 64, 10, 3, 1),
    (64, 64, 40, 3, 2),
    (128, 128, 20, 3, 2),
    (32, 32, 160, 1, 1),
    (48, 32, 80, 1, 1),
    (96, 64, 40, 1, 1),
    (192, 128, 20, 1, 1),
    (384, 256, 10, 1, 1),
    (512, 256, 10, 1, 1),
    (64, 18, 40, 1, 1),
];

fn main() {
    let sides: Vec<usize> = match std::env::args().nth(1) {
        Some(side) => vec![side.parse().expect("side: 320 or 640")],
        None => vec![320, 640],
    };
    println!("side c_in c_out  in_side k s   gemm_ms direct_ms  gemm_GF/s direct_GF/s");
    for side in sides {
        for (c_in, c_out, at320, kernel, stride) in LAYERS {
            let width = at320 * side / 320;
            let s = ConvShape {
                batch: 1,
                c_in,
                c_out,
                height: width,
                width,
                kernel,
                stride,
                padding: kernel / 2,
            };
            let input: Vec<f32> = (0..c_in * width * width)
                .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
                .collect();
            let weight: Vec<f32> = (0..c_out * c_in * kernel * kernel)
                .map(|i| ((i * 104_729) % 1000) as f32 / 10_000.0 - 0.05)
                .collect();
            let bias = vec![0.1f32; c_out];
            let direct = DirectWeights::new(&weight, c_out);
            let (out_h, out_w) = s.output();
            let flops = 2.0 * (c_out * c_in * kernel * kernel * out_h * out_w) as f64;
            let time = |direct: Option<&DirectWeights>| {
                let run = || {
                    conv2d_detection(
                        &input,
                        &weight,
                        direct,
                        Some(&bias),
                        s,
                        Some(Activation::Silu),
                    )
                };
                run();
                let runs = (2e8 / flops).clamp(3.0, 200.0) as usize;
                let mut times: Vec<f64> = (0..runs)
                    .map(|_| {
                        let started = Instant::now();
                        std::hint::black_box(run());
                        started.elapsed().as_secs_f64() * 1e3
                    })
                    .collect();
                times.sort_by(f64::total_cmp);
                times[0]
            };
            let gemm = time(None);
            let fast = direct.as_ref().map_or(f64::NAN, |d| time(Some(d)));
            println!(
                "{side:4} {c_in:4} {c_out:5} {width:8} {kernel} {stride} {gemm:9.3} {fast:9.3} {:10.1} {:11.1}",
                flops / gemm / 1e6,
                flops / fast / 1e6
            );
        }
    }
}
