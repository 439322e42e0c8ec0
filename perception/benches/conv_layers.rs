//! Per-layer timing of the encoders' convolutions and dense layers, fast path vs candle's:
//! forward, and forward + backward (gradients of input, weight and bias), batch 32, on
//! one thread. Run: `cargo bench -p perception --bench conv_layers` (release; the machine
//! should be otherwise idle, or compare the ratios only).

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use perception::conv::{ConvImpl, ConvSpec, conv2d_with};
use perception::dense::dense_with;
use std::time::Instant;

fn time_ms(mut f: impl FnMut(), min_secs: f64) -> f64 {
    for _ in 0..2 {
        f();
    }
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed().as_secs_f64() < min_secs || n < 3 {
        f();
        n += 1;
    }
    1e3 * start.elapsed().as_secs_f64() / n as f64
}

fn main() {
    let secs: f64 = std::env::var("SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| run(secs));
}

fn run(secs: f64) {
    let dev = Device::Cpu;
    let b = 32;
    // (name, in, out, k, s, side, input tracked)
    let convs = [
        ("nature conv0 4->32 8/4 @84", 4, 32, 8, 4, 84, false),
        ("nature conv1 32->64 4/2 @20", 32, 64, 4, 2, 20, true),
        ("nature conv2 64->64 3/1 @9", 64, 64, 3, 1, 9, true),
        ("small conv0 4->16 5/2 @42", 4, 16, 5, 2, 42, false),
        ("small conv1 16->32 5/2 @19", 16, 32, 5, 2, 19, true),
    ];
    println!(
        "{:<30} {:>10} {:>10} {:>10} {:>10}",
        "layer (batch 32, 1 thread)", "fwd fast", "fwd cndl", "f+b fast", "f+b cndl"
    );
    // `ONLY=<substring>` restricts the run to matching layers (for profiling one of them).
    let only = std::env::var("ONLY").unwrap_or_default();
    for (name, cin, cout, k, s, side, tracked) in convs {
        if !name.contains(only.as_str()) {
            continue;
        }
        let spec = ConvSpec {
            in_channels: cin,
            out_channels: cout,
            kernel: k,
            stride: s,
            padding: 0,
        };
        let x = Tensor::rand(0f32, 1f32, (b, cin, side, side), &dev).unwrap();
        let xv = Var::from_tensor(&x).unwrap();
        let mut row = vec![];
        for pass in ["fwd", "fb"] {
            for imp in [ConvImpl::Fast, ConvImpl::Candle] {
                let vm = VarMap::new();
                let conv =
                    conv2d_with(spec, imp, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
                let input = if tracked { xv.as_tensor() } else { &x };
                row.push(time_ms(
                    || {
                        let y = conv.forward_relu(input).unwrap();
                        if pass == "fb" {
                            let _ = y.sum_all().unwrap().backward().unwrap();
                        }
                    },
                    secs,
                ));
            }
        }
        println!(
            "{name:<30} {:>10.2} {:>10.2} {:>10.2} {:>10.2}",
            row[0], row[1], row[2], row[3]
        );
    }
    for (name, din, dout) in [
        ("nature fc 3136->512", 3136, 512),
        ("small@42 fc 2048->256", 2048, 256),
    ] {
        let x = Var::from_tensor(&Tensor::rand(0f32, 1f32, (b, din), &dev).unwrap()).unwrap();
        let mut row = vec![];
        for pass in ["fwd", "fb"] {
            for imp in [ConvImpl::Fast, ConvImpl::Candle] {
                let vm = VarMap::new();
                let fc = dense_with(
                    din,
                    dout,
                    imp,
                    VarBuilder::from_varmap(&vm, DType::F32, &dev),
                )
                .unwrap();
                row.push(time_ms(
                    || {
                        let y = fc.forward_relu(x.as_tensor()).unwrap();
                        if pass == "fb" {
                            let _ = y.sum_all().unwrap().backward().unwrap();
                        }
                    },
                    secs,
                ));
            }
        }
        println!(
            "{name:<30} {:>10.2} {:>10.2} {:>10.2} {:>10.2}",
            row[0], row[1], row[2], row[3]
        );
    }
}
