//! The fast CPU convolution against candle's own conv2d: forward outputs and the gradients with
//! respect to input, weight and bias, on seeded random data, for every layer shape the encoders
//! ship and for odd shapes, with one and with two threads. Tolerance: 1e-4 relative (max
//! absolute difference over the reference's max magnitude).

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use perception::conv::{ConvImpl, ConvSpec, conv2d_with};
use rand::{Rng, SeedableRng};

const TOL: f32 = 1e-4;

fn rand_tensor(rng: &mut impl Rng, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random_range(-1f32..1f32)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

fn rel_err(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    let diff = a
        .iter()
        .zip(&b)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    diff / scale
}

struct Case {
    name: &'static str,
    batch: usize,
    spec: ConvSpec,
    h: usize,
    w: usize,
}

fn spec(in_channels: usize, out_channels: usize, kernel: usize, stride: usize) -> ConvSpec {
    ConvSpec {
        in_channels,
        out_channels,
        kernel,
        stride,
        padding: 0,
    }
}

fn cases() -> Vec<Case> {
    let c = |name, batch, spec, h, w| Case {
        name,
        batch,
        spec,
        h,
        w,
    };
    vec![
        // Nature CNN on 4x84x84.
        c("nature conv0", 32, spec(4, 32, 8, 4), 84, 84),
        c("nature conv1", 32, spec(32, 64, 4, 2), 20, 20),
        c("nature conv2", 32, spec(64, 64, 3, 1), 9, 9),
        // Small CNN on 84 and on 42.
        c("small@84 conv0", 8, spec(4, 16, 5, 2), 84, 84),
        c("small@84 conv1", 8, spec(16, 32, 5, 2), 40, 40),
        c("small@42 conv0", 32, spec(4, 16, 5, 2), 42, 42),
        c("small@42 conv1", 32, spec(16, 32, 5, 2), 19, 19),
        // Odd shapes.
        c("stride does not divide", 3, spec(3, 5, 3, 2), 10, 10),
        c("batch 1", 1, spec(4, 32, 8, 4), 84, 84),
        c("one input channel", 5, spec(1, 7, 5, 2), 21, 17),
        c("kernel = input size", 4, spec(6, 9, 7, 1), 7, 7),
        // Square, like every case where H and W leave different remainders: candle's own
        // conv backward sizes the input gradient from H alone and fails otherwise.
        c("stride larger than kernel", 2, spec(2, 3, 2, 3), 11, 11),
        c("generic kernel width 6", 3, spec(5, 4, 6, 2), 15, 15),
        c("1x1 kernel", 2, spec(8, 4, 1, 1), 5, 6),
        c(
            "padding 1",
            3,
            ConvSpec {
                padding: 1,
                ..spec(3, 4, 3, 1)
            },
            8,
            8,
        ),
        c(
            "padding 2, stride 2, non-square",
            2,
            ConvSpec {
                padding: 2,
                ..spec(2, 3, 5, 2)
            },
            9,
            11,
        ),
    ]
}

/// Output and the gradients of `sum(y * r)` w.r.t. input, weight and bias for one impl.
fn run(
    case: &Case,
    imp: ConvImpl,
    relu: bool,
    x: &Tensor,
    r: &Tensor,
    seed: u64,
) -> (Tensor, Tensor, Tensor, Tensor) {
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    let conv = conv2d_with(case.spec, imp, vb).unwrap();
    // Same weights for both implementations: drawn from `seed`.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let w = rand_tensor(&mut rng, conv.weight().dims());
    let b = rand_tensor(&mut rng, conv.bias().dims());
    for (name, t) in vm.data().lock().unwrap().iter() {
        t.set(if name == "weight" { &w } else { &b }).unwrap();
    }
    let xv = Var::from_tensor(x).unwrap();
    let y = if relu {
        conv.forward_relu(xv.as_tensor()).unwrap()
    } else {
        conv.forward(xv.as_tensor()).unwrap()
    };
    let loss = (&y * r).unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    let g = |t: &Tensor| grads.get(t).expect("gradient").clone();
    (y, g(xv.as_tensor()), g(conv.weight()), g(conv.bias()))
}

fn check_all(threads: usize) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        for (i, case) in cases().iter().enumerate() {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(100 + i as u64);
            let x = rand_tensor(
                &mut rng,
                &[case.batch, case.spec.in_channels, case.h, case.w],
            );
            let oh = case.spec.out_size(case.h).unwrap();
            let ow = case.spec.out_size(case.w).unwrap();
            let r = rand_tensor(&mut rng, &[case.batch, case.spec.out_channels, oh, ow]);
            for relu in [false, true] {
                let fast = run(case, ConvImpl::Fast, relu, &x, &r, i as u64);
                let reference = run(case, ConvImpl::Candle, relu, &x, &r, i as u64);
                for (what, a, b) in [
                    ("output", &fast.0, &reference.0),
                    ("d input", &fast.1, &reference.1),
                    ("d weight", &fast.2, &reference.2),
                    ("d bias", &fast.3, &reference.3),
                ] {
                    let e = rel_err(a, b);
                    assert!(
                        e <= TOL,
                        "{} (relu {relu}, {threads} thread(s)): {what} differs by {e:e}",
                        case.name
                    );
                }
            }
        }
    });
}

#[test]
fn fast_conv_matches_candle_one_thread() {
    check_all(1);
}

#[test]
fn fast_conv_matches_candle_two_threads() {
    check_all(2);
}

#[test]
fn untracked_input_gets_no_gradient_but_weights_do() {
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    let conv = conv2d_with(spec(4, 8, 8, 4), ConvImpl::Fast, vb).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let x = rand_tensor(&mut rng, &[2, 4, 84, 84]);
    let loss = conv.forward_relu(&x).unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    assert!(grads.get(&x).is_none());
    let dw = grads.get(conv.weight()).expect("weight gradient");
    assert!(
        dw.abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
            > 0.0
    );
}

#[test]
fn bad_shapes_are_errors_not_panics() {
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    let conv = conv2d_with(spec(4, 8, 5, 2), ConvImpl::Fast, vb.clone()).unwrap();
    let wrong_channels = Tensor::zeros((1, 3, 20, 20), DType::F32, &Device::Cpu).unwrap();
    let err = conv.forward_relu(&wrong_channels).unwrap_err().to_string();
    assert!(err.contains("channels"), "{err}");
    let too_small = Tensor::zeros((1, 4, 4, 4), DType::F32, &Device::Cpu).unwrap();
    let err = conv.forward(&too_small).unwrap_err().to_string();
    assert!(err.contains("smaller than"), "{err}");
    let not_4d = Tensor::zeros((4, 20, 20), DType::F32, &Device::Cpu).unwrap();
    assert!(conv.forward(&not_4d).is_err());
    let zero_stride = conv2d_with(spec(4, 8, 5, 0), ConvImpl::Fast, vb.pp("z"));
    assert!(zero_stride.is_err());
}

#[test]
fn strided_input_views_give_the_same_output() {
    // A transposed view (non-contiguous) must be read correctly, not misinterpreted.
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    let conv = conv2d_with(spec(3, 4, 3, 1), ConvImpl::Fast, vb).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let x = rand_tensor(&mut rng, &[2, 3, 9, 9]);
    let xt = x.transpose(2, 3).unwrap();
    let a = conv.forward(&xt).unwrap();
    let b = conv.forward(&xt.contiguous().unwrap()).unwrap();
    assert_eq!(rel_err(&a, &b), 0.0);
    let reference = conv
        .with_implementation(ConvImpl::Candle)
        .forward(&xt)
        .unwrap();
    assert!(rel_err(&a, &reference) <= TOL);
}

#[test]
fn rows_and_columns_no_window_reaches_get_zero_gradient() {
    // 8x9 input, 3x3 stride 2: windows cover rows 0..7 and every column, so row 7 is never
    // read. candle cannot differentiate this shape itself (different remainders in H and W),
    // so the reference is candle on the 7x9 input that the windows actually cover.
    let s = spec(2, 3, 3, 2);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let x = rand_tensor(&mut rng, &[2, 2, 8, 9]);
    let r = rand_tensor(&mut rng, &[2, 3, 3, 4]);
    let case = |h| Case {
        name: "",
        batch: 2,
        spec: s,
        h,
        w: 9,
    };
    let fast = run(&case(8), ConvImpl::Fast, true, &x, &r, 5);
    let covered = x.narrow(2, 0, 7).unwrap().contiguous().unwrap();
    let reference = run(&case(7), ConvImpl::Candle, true, &covered, &r, 5);
    assert!(rel_err(&fast.0, &reference.0) <= TOL);
    let dx_covered = fast.1.narrow(2, 0, 7).unwrap();
    assert!(rel_err(&dx_covered, &reference.1) <= TOL);
    let last_row = fast.1.narrow(2, 7, 1).unwrap().abs().unwrap();
    assert_eq!(last_row.sum_all().unwrap().to_scalar::<f32>().unwrap(), 0.0);
    assert!(rel_err(&fast.2, &reference.2) <= TOL);
    assert!(rel_err(&fast.3, &reference.3) <= TOL);
}

/// Output and gradients of `sum(y * r)` through one dense layer.
fn run_dense(
    imp: ConvImpl,
    relu: bool,
    x: &Tensor,
    out: usize,
    r: &Tensor,
    seed: u64,
) -> (Tensor, Tensor, Tensor, Tensor) {
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    let layer = perception::dense::dense_with(x.dims()[1], out, imp, vb).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let w = rand_tensor(&mut rng, layer.weight().dims());
    let b = rand_tensor(&mut rng, layer.bias().dims());
    for (name, t) in vm.data().lock().unwrap().iter() {
        t.set(if name == "weight" { &w } else { &b }).unwrap();
    }
    let xv = Var::from_tensor(x).unwrap();
    let y = if relu {
        layer.forward_relu(xv.as_tensor()).unwrap()
    } else {
        layer.forward(xv.as_tensor()).unwrap()
    };
    let grads = (&y * r).unwrap().sum_all().unwrap().backward().unwrap();
    let g = |t: &Tensor| grads.get(t).expect("gradient").clone();
    (y, g(xv.as_tensor()), g(layer.weight()), g(layer.bias()))
}

#[test]
fn fast_dense_matches_candle_linear() {
    // Nature fc, small@42 fc, small@84 fc, an MLP layer, batch 1.
    let shapes = [
        (32, 3136, 512),
        (32, 2048, 256),
        (4, 10368, 256),
        (5, 4, 120),
        (1, 3136, 512),
    ];
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            for (i, &(batch, din, dout)) in shapes.iter().enumerate() {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(200 + i as u64);
                let x = rand_tensor(&mut rng, &[batch, din]);
                let r = rand_tensor(&mut rng, &[batch, dout]);
                for relu in [false, true] {
                    let fast = run_dense(ConvImpl::Fast, relu, &x, dout, &r, i as u64);
                    let reference = run_dense(ConvImpl::Candle, relu, &x, dout, &r, i as u64);
                    for (what, a, b) in [
                        ("output", &fast.0, &reference.0),
                        ("d input", &fast.1, &reference.1),
                        ("d weight", &fast.2, &reference.2),
                        ("d bias", &fast.3, &reference.3),
                    ] {
                        let e = rel_err(a, b);
                        assert!(
                            e <= TOL,
                            "dense {batch}x{din}->{dout} (relu {relu}, {threads} threads): {what} differs by {e:e}"
                        );
                    }
                }
            }
        });
    }
}

#[test]
fn whole_encoders_agree_and_share_checkpoint_names() {
    use perception::conv::set_default_conv_impl;
    use perception::{Encoder, EncoderKind, FrameLayout, ObsSpec};
    for (kind, side) in [(EncoderKind::Nature, 84), (EncoderKind::Small, 42)] {
        let obs = ObsSpec::Frames {
            channels: 4,
            height: side,
            width: side,
            layout: FrameLayout::Chw,
        };
        let build = |imp| {
            // Only this test changes the process-wide default, and it restores it.
            set_default_conv_impl(imp);
            let vm = VarMap::new();
            let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
            let enc = Encoder::new(kind, &obs, &[], vb).unwrap();
            set_default_conv_impl(ConvImpl::Fast);
            perception::seeded_init(&vm, 3).unwrap();
            (vm, enc)
        };
        let (vm_fast, fast) = build(ConvImpl::Fast);
        let (vm_ref, reference) = build(ConvImpl::Candle);
        let mut names: Vec<String> = vm_fast.data().lock().unwrap().keys().cloned().collect();
        let mut ref_names: Vec<String> = vm_ref.data().lock().unwrap().keys().cloned().collect();
        names.sort();
        ref_names.sort();
        assert_eq!(names, ref_names);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let x = rand_tensor(&mut rng, &[8, 4, side, side])
            .affine(0.5, 0.5)
            .unwrap();
        let grads_of = |enc: &Encoder| {
            let y = enc.forward(&x).unwrap();
            let loss = y.sqr().unwrap().sum_all().unwrap();
            (y, loss.backward().unwrap())
        };
        let (yf, gf) = grads_of(&fast);
        let (yr, gr) = grads_of(&reference);
        assert!(rel_err(&yf, &yr) <= TOL, "{kind:?} output");
        let (df, dr) = (
            vm_fast.data().lock().unwrap(),
            vm_ref.data().lock().unwrap(),
        );
        for name in &names {
            let a = gf.get(df[name].as_tensor()).expect("fast gradient");
            let b = gr.get(dr[name].as_tensor()).expect("candle gradient");
            let e = rel_err(a, b);
            assert!(e <= TOL, "{kind:?} gradient of {name} differs by {e:e}");
        }
    }
}
