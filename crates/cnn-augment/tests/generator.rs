//! Properties of the transforms, Keras's parameter semantics, flow / flow_from_directory,
//! determinism, prefetching and training through `fit`.

use std::sync::Arc;

use cnn_augment::*;
use cnn_nn::{BatchSource, FitOptions, Loss, Model, Optimizer, Part, Targets, gather};
use cnn_tensor::{Tensor, seeded_rng};
use proptest::prelude::*;

fn img(h: usize, w: usize, c: usize, seed: u64) -> Image {
    let mut s = seed.wrapping_mul(6364136223846793005) | 1;
    let data = (0..h * w * c)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) % 256) as f32
        })
        .collect();
    Image { h, w, c, data }
}

fn fill() -> impl Strategy<Value = FillMode> {
    prop_oneof![
        Just(FillMode::Nearest),
        Just(FillMode::Reflect),
        Just(FillMode::Wrap),
        Just(FillMode::GridWrap)
    ]
}

proptest! {
    #[test]
    fn identity_parameters_return_the_input_exactly((h, w, c) in (1usize..9, 1usize..9, 1usize..4), seed in any::<u64>(), order in 0u8..2) {
        let x = img(h, w, c, seed);
        let cfg = AugmentConfig { interpolation_order: order, ..Default::default() };
        prop_assert_eq!(&apply_transform(&x, &TransformParams::default(), &cfg), &x);
        // Through the resampler too, not just the shortcut.
        let mut out = vec![0.0; x.data.len()];
        resample(&x.data, h, w, c, &Affine::keras(&TransformParams::default(), h, w), FillMode::Nearest, 0.0, order, Axes::Keras, &mut out);
        prop_assert_eq!(out, x.data.clone());
        // A generator with everything off changes nothing.
        prop_assert_eq!(ImageDataGenerator::new(AugmentConfig::default()).augment(&x, seed), x);
    }

    #[test]
    fn flipping_twice_is_the_identity((h, w, c) in (1usize..9, 1usize..9, 1usize..4), seed in any::<u64>()) {
        let x = img(h, w, c, seed);
        let cfg = AugmentConfig::default();
        for p in [TransformParams { flip_horizontal: true, ..Default::default() }, TransformParams { flip_vertical: true, ..Default::default() }] {
            let once = apply_transform(&x, &p, &cfg);
            prop_assert_eq!(&apply_transform(&once, &p, &cfg), &x);
        }
    }

    #[test]
    fn outputs_stay_within_the_input_range(
        (h, w, c) in (2usize..10, 2usize..10, 1usize..4), seed in any::<u64>(), mode in fill(),
        theta in -180.0f64..180.0, tx in -5.0f64..5.0, ty in -5.0f64..5.0, shear in -40.0f64..40.0,
        zx in 0.5f64..1.6, zy in 0.5f64..1.6, order in 0u8..2,
    ) {
        let x = img(h, w, c, seed);
        let (lo, hi) = x.data.iter().fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        let cfg = AugmentConfig { fill_mode: mode, interpolation_order: order, ..Default::default() };
        let p = TransformParams { theta, tx, ty, shear, zx, zy, ..Default::default() };
        let out = apply_transform(&x, &p, &cfg);
        for &v in &out.data {
            prop_assert!(v >= lo - 1e-3 && v <= hi + 1e-3, "{} outside [{}, {}]", v, lo, hi);
        }
    }

    #[test]
    fn shift_ranges_follow_keras(side in 1usize..200, seed in any::<u64>()) {
        let mut rng = seeded_rng(seed);
        let t = ShiftRange::Int(2).draw(side, &mut rng);
        prop_assert!(t == -1.0 || t == 0.0 || t == 1.0);
        let t = ShiftRange::Float(0.2).draw(side, &mut rng);
        prop_assert!(t.abs() <= 0.2 * side as f64 + 1e-9);
        let t = ShiftRange::Float(3.0).draw(side, &mut rng);
        prop_assert!(t.abs() <= 3.0);
        let t = ShiftRange::List(vec![0.1, 0.25]).draw(side, &mut rng);
        let s = side as f64;
        prop_assert!([0.1 * s, 0.25 * s].iter().any(|&v| (t.abs() - v as f32 as f64).abs() < 1e-3 * s.max(1.0)));
    }
}

#[test]
fn flips_mirror_the_right_axis() {
    let x = Image {
        h: 2,
        w: 3,
        c: 1,
        data: vec![1., 2., 3., 4., 5., 6.],
    };
    let cfg = AugmentConfig::default();
    let h = apply_transform(
        &x,
        &TransformParams {
            flip_horizontal: true,
            ..Default::default()
        },
        &cfg,
    );
    assert_eq!(h.data, vec![3., 2., 1., 6., 5., 4.]);
    let v = apply_transform(
        &x,
        &TransformParams {
            flip_vertical: true,
            ..Default::default()
        },
        &cfg,
    );
    assert_eq!(v.data, vec![4., 5., 6., 1., 2., 3.]);
}

#[test]
fn channel_shift_and_brightness() {
    let x = Image {
        h: 1,
        w: 2,
        c: 3,
        data: vec![10., 20., 30., 40., 50., 60.],
    };
    let cfg = AugmentConfig::default();
    let out = apply_transform(
        &x,
        &TransformParams {
            channel_shift_intensity: Some(25.0),
            ..Default::default()
        },
        &cfg,
    );
    // Every channel shifted by the same amount, clipped to the image's [min, max].
    assert_eq!(out.data, vec![35., 45., 55., 60., 60., 60.]);
    let out = apply_transform(
        &x,
        &TransformParams {
            brightness: Some(1.0),
            ..Default::default()
        },
        &cfg,
    );
    for (a, b) in out.data.iter().zip(&x.data) {
        assert!((a - b).abs() < 0.2, "{a} vs {b}");
    }
    let dark = apply_transform(
        &x,
        &TransformParams {
            brightness: Some(0.5),
            ..Default::default()
        },
        &cfg,
    );
    assert!(dark.data.iter().sum::<f32>() < x.data.iter().sum::<f32>());
}

#[test]
fn standardisation_follows_keras_order() {
    let mut g = ImageDataGenerator::new(AugmentConfig {
        rescale: Some(0.5),
        featurewise_center: true,
        featurewise_std_normalization: true,
        ..Default::default()
    });
    let x = Tensor::new([2, 1, 1, 2], vec![0., 10., 4., 30.]).unwrap();
    g.fit(&x).unwrap();
    let s = g.stats.clone().unwrap();
    assert_eq!(s.mean, vec![1.0, 10.0]); // after rescale 0.5
    assert_eq!(s.std, vec![1.0, 5.0]);
    let mut im = Image {
        h: 1,
        w: 1,
        c: 2,
        data: vec![4., 30.],
    };
    g.standardize(&mut im);
    assert!(
        (im.data[0] - 1.0).abs() < 1e-5 && (im.data[1] - 1.0).abs() < 1e-5,
        "{:?}",
        im.data
    );
    let unfitted = ImageDataGenerator::new(AugmentConfig {
        featurewise_center: true,
        ..Default::default()
    });
    assert!(unfitted.validate().is_err());
    let g = ImageDataGenerator::new(AugmentConfig::default())
        .with_preprocessing(|im: &mut Image| im.data.iter_mut().for_each(|v| *v += 1.0));
    let mut im = Image {
        h: 1,
        w: 1,
        c: 1,
        data: vec![1.0],
    };
    g.standardize(&mut im);
    assert_eq!(im.data, vec![2.0]);
}

fn data(n: usize) -> (Arc<Tensor>, Arc<Targets>) {
    let x = Tensor::from_fn([n, 6, 6, 1], |i| ((i * 37) % 256) as f32).unwrap();
    (
        Arc::new(x),
        Arc::new(Targets::Sparse((0..n).map(|i| i % 3).collect())),
    )
}

fn busy() -> ImageDataGenerator {
    ImageDataGenerator::new(AugmentConfig {
        rotation_range: 20.0,
        width_shift_range: ShiftRange::Float(0.2),
        height_shift_range: ShiftRange::Float(0.2),
        zoom_range: AugmentConfig::zoom(0.2),
        horizontal_flip: true,
        rescale: Some(1.0 / 255.0),
        ..Default::default()
    })
}

#[test]
fn flow_batches_like_keras() {
    let (x, y) = data(10);
    let mut f = Flow::new(
        Arc::new(busy()),
        x.clone(),
        y.clone(),
        FlowOptions {
            batch_size: 4,
            shuffle: false,
            seed: 3,
            subset: None,
        },
    )
    .unwrap();
    assert_eq!(f.steps(), 3);
    let sizes: Vec<usize> = (0..3).map(|s| f.batch(0, s).unwrap().0.dims()[0]).collect();
    assert_eq!(sizes, [4, 4, 2]);
    // Unshuffled: file order; steps past the end wrap into the next pass.
    let (_, idx) = f.images(0, 2).unwrap();
    assert_eq!(idx, [8, 9]);
    let (_, idx) = f.images(0, 3).unwrap();
    assert_eq!(idx, [0, 1, 2, 3]);
    // Same seed, same batch; another epoch, another transform.
    assert_eq!(f.batch(1, 0).unwrap().0, f.batch(1, 0).unwrap().0);
    assert_ne!(f.batch(0, 0).unwrap().0, f.batch(1, 0).unwrap().0);
    // Subsets: the first fraction is validation, like Keras.
    let mut g = busy();
    g.config.validation_split = 0.3;
    let g = Arc::new(g);
    let v = Flow::new(
        g.clone(),
        x.clone(),
        y.clone(),
        FlowOptions {
            subset: Some(Subset::Validation),
            shuffle: false,
            ..Default::default()
        },
    )
    .unwrap();
    let t = Flow::new(
        g,
        x,
        y,
        FlowOptions {
            subset: Some(Subset::Training),
            shuffle: false,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((v.samples(), t.samples()), (3, 7));
    assert_eq!(v.images(0, 0).unwrap().1, [0, 1, 2]);
}

#[test]
fn same_seed_same_batches_whatever_the_thread_count() {
    let (x, y) = data(40);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut f = Flow::new(
                Arc::new(busy()),
                x.clone(),
                y.clone(),
                FlowOptions {
                    batch_size: 16,
                    seed: 9,
                    ..Default::default()
                },
            )
            .unwrap();
            (0..3).map(|s| f.batch(1, s).unwrap()).collect::<Vec<_>>()
        })
    };
    assert_eq!(run(1), run(4));
}

#[test]
fn prefetch_gives_the_same_batches_and_measures_waiting() {
    let (x, y) = data(40);
    let mk = || {
        Flow::new(
            Arc::new(busy()),
            x.clone(),
            y.clone(),
            FlowOptions {
                batch_size: 16,
                seed: 5,
                ..Default::default()
            },
        )
        .unwrap()
    };
    let mut direct = mk();
    let mut pre = Prefetch::new(mk(), 2);
    for e in 0..2 {
        for s in 0..3 {
            assert_eq!(pre.batch(e, s).unwrap(), direct.batch(e, s).unwrap());
        }
    }
    // Out of order (a restart) still gives the right batch.
    assert_eq!(pre.batch(0, 1).unwrap(), direct.batch(0, 1).unwrap());
    assert!(pre.waited().as_secs_f64() >= 0.0);
}

#[test]
fn parts_of_a_batch_are_its_samples_augmented_the_same_way() {
    let (x, y) = data(40);
    let mk = || {
        Flow::new(
            Arc::new(busy()),
            x.clone(),
            y.clone(),
            FlowOptions {
                batch_size: 16,
                seed: 5,
                ..Default::default()
            },
        )
        .unwrap()
    };
    let mut direct = mk();
    // Rank 1 of 3 prefetching its own part; and one process computing all three in turn.
    let mut rank1 = Prefetch::new(mk(), 2).parts(1..2);
    let mut all = Prefetch::new(mk(), 3).parts(0..3);
    for e in 0..2 {
        for s in 0..3 {
            let (bx, by) = direct.batch(e, s).unwrap();
            let n = by.len();
            let mut rows = Vec::new();
            for index in 0..3 {
                let part = Part { index, count: 3 };
                let (px, py, whole) = all.batch_part(e, s, part).unwrap();
                assert_eq!(whole, n);
                let idx: Vec<usize> = part.range(n).collect();
                assert_eq!(
                    px,
                    gather(&bx, &idx).unwrap(),
                    "epoch {e} step {s} part {index}"
                );
                assert_eq!(py, by.select(&idx).unwrap());
                if index == 1 {
                    assert_eq!(rank1.batch_part(e, s, part).unwrap(), (px, py, whole));
                }
                rows.extend(idx);
            }
            assert_eq!(rows, (0..n).collect::<Vec<_>>());
        }
    }
}

#[test]
fn generators_plug_into_fit() {
    // Bars: vertical (0) or horizontal (1); shifts keep the class.
    let n = 120;
    let mut xs = vec![0.0f32; n * 64];
    let labels: Vec<usize> = (0..n).map(|i| i % 2).collect();
    for i in 0..n {
        let p = 1 + (i / 2) % 6;
        for t in 0..8 {
            let (r, c) = if labels[i] == 0 { (t, p) } else { (p, t) };
            xs[i * 64 + r * 8 + c] = 255.0;
        }
    }
    let x = Arc::new(Tensor::new([n, 8, 8, 1], xs).unwrap());
    let y = Arc::new(Targets::Sparse(labels));
    let g = Arc::new(ImageDataGenerator::new(AugmentConfig {
        width_shift_range: ShiftRange::Int(2),
        height_shift_range: ShiftRange::Int(2),
        rescale: Some(1.0 / 255.0),
        ..Default::default()
    }));
    let train = Flow::new(
        g,
        x.clone(),
        y.clone(),
        FlowOptions {
            batch_size: 16,
            seed: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let mut train = Prefetch::new(train, 2);
    let spec = cnn_nn::zoo("mnist-cnn", Some(&[8, 8, 1]), Some(2)).unwrap();
    let mut m = Model::new(&spec, 1).unwrap();
    let h = m
        .fit(
            &mut Optimizer::adam(0.003),
            Loss::SparseCategoricalCrossentropy,
            &mut train,
            None,
            &FitOptions {
                epochs: 6,
                ..Default::default()
            },
            &mut [],
        )
        .unwrap();
    assert!(h.accuracy.last().unwrap() > &0.9, "{:?}", h.accuracy);
}

fn png(path: &std::path::Path, v: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::GrayImage::from_fn(10, 12, |x, y| {
        image::Luma([v.wrapping_add((x * 7 + y) as u8)])
    })
    .save(path)
    .unwrap();
}

#[test]
fn ranks_check_a_folder_in_shares_and_agree_with_one_process() {
    let dir = tempfile::tempdir().unwrap();
    for (class, n) in [("dogs", 6), ("cats", 5)] {
        for i in 0..n {
            png(
                &dir.path().join(class).join(format!("{i}.png")),
                (i * 20) as u8,
            );
        }
    }
    for bad in ["cats/zz-corrupt.jpg", "dogs/3-corrupt.png"] {
        std::fs::write(dir.path().join(bad), b"\xff\xd8 not really").unwrap();
    }
    let g = Arc::new(busy());
    let opts = DirectoryOptions {
        target_size: (8, 8),
        color: cnn_datasets::ColorMode::Grayscale,
        batch_size: 5,
        seed: 3,
        verbose: false,
        ..Default::default()
    };
    let mut one = DirectoryFlow::new(g.clone(), dir.path(), opts.clone()).unwrap();
    assert_eq!(one.skipped.len(), 2);
    let (one_files, one_skipped) = (one.filenames.clone(), one.skipped.clone());
    let batches: Vec<_> = (0..3).map(|s| one.batch(1, s).unwrap()).collect();
    for n in [2, 3] {
        let got: Vec<_> = std::thread::scope(|sc| {
            let hs: Vec<_> = cnn_nn::ThreadRanks::new(n)
                .into_iter()
                .map(|mut r| {
                    let (g, opts, path) = (g.clone(), opts.clone(), dir.path());
                    sc.spawn(move || {
                        let mut f = DirectoryFlow::new_shared(g, path, opts, &mut r).unwrap();
                        let part = Part {
                            index: cnn_nn::Collective::rank(&r),
                            count: n,
                        };
                        let parts: Vec<_> =
                            (0..3).map(|s| f.batch_part(1, s, part).unwrap()).collect();
                        (f.filenames.clone(), f.skipped.clone(), part, parts)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (files, skipped, part, parts) in got {
            assert_eq!(files, one_files, "{n} ranks");
            assert_eq!(skipped, one_skipped);
            for ((px, py, whole), (bx, by)) in parts.iter().zip(&batches) {
                let idx: Vec<usize> = part.range(*whole).collect();
                assert_eq!(*px, gather(bx, &idx).unwrap());
                assert_eq!(*py, by.select(&idx).unwrap());
            }
        }
    }
}

#[test]
fn flow_from_directory_like_keras() {
    let dir = tempfile::tempdir().unwrap();
    for (class, n) in [("dogs", 5), ("cats", 4)] {
        for i in 0..n {
            png(
                &dir.path().join(class).join(format!("{i}.png")),
                (i * 20) as u8,
            );
        }
    }
    std::fs::write(
        dir.path().join("cats/zz-corrupt.jpg"),
        b"\xff\xd8 not really",
    )
    .unwrap();
    let mut g = busy();
    g.config.validation_split = 0.25;
    let g = Arc::new(g);
    let opts = DirectoryOptions {
        target_size: (8, 8),
        color: cnn_datasets::ColorMode::Grayscale,
        shuffle: false,
        batch_size: 4,
        verbose: false,
        ..Default::default()
    };
    let mut f = DirectoryFlow::new(g.clone(), dir.path(), opts.clone()).unwrap();
    assert_eq!(
        f.class_indices(),
        [("cats".to_string(), 0), ("dogs".to_string(), 1)]
    );
    assert_eq!(f.samples(), 9);
    assert_eq!(f.skipped.len(), 1);
    assert!(f.skipped[0].file.ends_with("cats/zz-corrupt.jpg"));
    assert_eq!(f.filenames[0].to_str().unwrap(), "cats/0.png");
    assert_eq!(f.classes, [0, 0, 0, 0, 1, 1, 1, 1, 1]);
    let (x, y) = f.batch(0, 0).unwrap();
    assert_eq!(x.dims(), &[4, 8, 8, 1]);
    assert!(matches!(y, Targets::Dense(ref t) if t.dims() == [4, 2]));
    assert_eq!(f.steps(), 3);
    // Subsets per class folder: the first int(0.25 n) files are validation.
    let v = DirectoryFlow::new(
        g.clone(),
        dir.path(),
        DirectoryOptions {
            subset: Some(Subset::Validation),
            ..opts.clone()
        },
    )
    .unwrap();
    assert_eq!(
        v.filenames
            .iter()
            .map(|p| p.to_str().unwrap())
            .collect::<Vec<_>>(),
        ["cats/0.png", "dogs/0.png"]
    );
    // At most N files per class, the first ones of the subset.
    let t = DirectoryFlow::new(
        g.clone(),
        dir.path(),
        DirectoryOptions {
            subset: Some(Subset::Training),
            max_per_class: Some(2),
            ..opts.clone()
        },
    )
    .unwrap();
    assert_eq!(
        t.filenames
            .iter()
            .map(|p| p.to_str().unwrap())
            .collect::<Vec<_>>(),
        ["cats/1.png", "cats/2.png", "dogs/1.png", "dogs/2.png"]
    );
    // Strict mode refuses the corrupt file.
    assert!(
        DirectoryFlow::new(
            g.clone(),
            dir.path(),
            DirectoryOptions {
                strict: true,
                ..opts.clone()
            }
        )
        .is_err()
    );
    // Sparse labels; no caching gives the same batches.
    let mut s = DirectoryFlow::new(
        g.clone(),
        dir.path(),
        DirectoryOptions {
            class_mode: ClassMode::Sparse,
            ..opts.clone()
        },
    )
    .unwrap();
    let mut nc = DirectoryFlow::new(
        g,
        dir.path(),
        DirectoryOptions {
            class_mode: ClassMode::Sparse,
            cache_bytes: 0,
            ..opts
        },
    )
    .unwrap();
    assert_eq!(s.batch(0, 1).unwrap(), nc.batch(0, 1).unwrap());
}

#[test]
fn flow_from_directory_on_the_real_cifar10_jpegs() {
    let tarball = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/cifar10-jpg.tar.gz");
    if !tarball.exists() {
        assert!(
            std::env::var("CI").is_err(),
            "{} is required in CI",
            tarball.display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    cnn_datasets::archive::extract(
        &tarball,
        dir.path(),
        cnn_datasets::archive::Limits::default(),
    )
    .unwrap();
    let root = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("train").is_dir())
        .unwrap_or(dir.path().to_path_buf());
    std::fs::write(
        root.join("train/dog/00000-corrupt.jpg"),
        b"\xff\xd8\xff\xe0 truncated",
    )
    .unwrap();
    let g = Arc::new(busy());
    let opts = DirectoryOptions {
        target_size: (32, 32),
        batch_size: 64,
        verbose: false,
        ..Default::default()
    };
    let mut train = DirectoryFlow::new(g.clone(), &root.join("train"), opts.clone()).unwrap();
    let test = DirectoryFlow::new(g, &root.join("test"), opts).unwrap();
    assert_eq!((train.samples(), test.samples()), (50_000, 10_000));
    let names: Vec<&str> = train.class_names.iter().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck"
        ]
    );
    assert_eq!(train.skipped.len(), 1);
    assert!(train.skipped[0].file.ends_with("dog/00000-corrupt.jpg"));
    assert_eq!(train.steps(), 782);
    let (x, _) = train.batch(0, 781).unwrap();
    assert_eq!(x.dims(), &[50_000 - 781 * 64, 32, 32, 3]);
}

#[test]
fn keras_axes_move_the_height_shift_horizontally_documented_axes_vertically() {
    // 3x4 image, value = 10 * row + col.
    let x = Image {
        h: 3,
        w: 4,
        c: 1,
        data: (0..12).map(|i| (10 * (i / 4) + i % 4) as f32).collect(),
    };
    let p = TransformParams {
        tx: 1.0,
        ..Default::default()
    }; // from height_shift_range
    // Keras 3 (the default): the height-range parameter moves content horizontally
    // (out[r][c] = in[r][c+1]).
    let keras = apply_transform(&x, &p, &AugmentConfig::default());
    assert_eq!(&keras.data[..4], &[1., 2., 3., 3.]);
    let documented = apply_transform(
        &x,
        &p,
        &AugmentConfig {
            axes: Axes::Documented,
            ..Default::default()
        },
    );
    // Documented axes: it moves content vertically (pull: out[r][c] = in[r+1][c]).
    assert_eq!(&documented.data[..4], &[10., 11., 12., 13.]);
    // Either way, the height range is scaled by the height (3), the width range by the width (4).
    for axes in [Axes::Keras, Axes::Documented] {
        let cfg = AugmentConfig {
            height_shift_range: ShiftRange::Float(0.5),
            axes,
            ..Default::default()
        };
        for seed in 0..200 {
            let t = cfg.draw(3, 4, &mut seeded_rng(seed));
            assert!(t.tx.abs() <= 1.5 + 1e-9, "tx {} with {axes:?}", t.tx);
        }
    }
}

/// Per sample (by its label, which is its index), whether `epoch` showed it mirrored.
fn flips_by_epoch(alternating: bool, epochs: usize) -> Vec<Vec<bool>> {
    let (n, h, w) = (40, 4, 6);
    let imgs: Vec<Image> = (0..n).map(|i| img(h, w, 1, i as u64 + 1)).collect();
    let xs: Vec<f32> = imgs.iter().flat_map(|i| i.data.clone()).collect();
    let x = Arc::new(Tensor::new([n, h, w, 1], xs).unwrap());
    let y = Arc::new(Targets::Sparse((0..n).collect()));
    let g = Arc::new(ImageDataGenerator::new(AugmentConfig {
        horizontal_flip: true,
        alternating_flip: alternating,
        ..Default::default()
    }));
    let opts = FlowOptions {
        batch_size: 7,
        seed: 3,
        ..Default::default()
    };
    let mut flow = Flow::new(g, x, y, opts).unwrap();
    let mirror = |im: &Image| -> Vec<f32> {
        (0..h * w)
            .map(|p| im.data[(p / w) * w + (w - 1 - p % w)])
            .collect()
    };
    (0..epochs)
        .map(|e| {
            let mut flipped = vec![None; n];
            for s in 0..flow.steps() {
                let (b, t) = flow.batch(e, s).unwrap();
                let Targets::Sparse(ids) = t else { panic!() };
                for (k, &i) in ids.iter().enumerate() {
                    let got = &b.data()[k * h * w..(k + 1) * h * w];
                    flipped[i] = Some(if got == imgs[i].data.as_slice() {
                        false
                    } else {
                        assert_eq!(got, mirror(&imgs[i]).as_slice(), "sample {i}");
                        true
                    });
                }
            }
            flipped
                .into_iter()
                .map(|f| f.expect("every sample"))
                .collect()
        })
        .collect()
}

#[test]
fn alternating_flip_shows_each_image_the_other_way_in_the_next_epoch() {
    let on = flips_by_epoch(true, 4);
    let first = on[0].iter().filter(|&&f| f).count();
    assert!(
        (10..=30).contains(&first),
        "{first} of 40 flipped in epoch 0"
    );
    for (e, pair) in on.windows(2).enumerate() {
        for (i, (before, after)) in pair[0].iter().zip(&pair[1]).enumerate() {
            assert_eq!(*after, !before, "sample {i}, epoch {}", e + 1);
        }
    }
    // Random flips (Keras's) repeat a side in consecutive epochs for some images.
    let off = flips_by_epoch(false, 2);
    assert!((0..40).any(|i| off[0][i] == off[1][i]));
}
