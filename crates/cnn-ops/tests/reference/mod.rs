//! Naive direct-loop reference implementations, written independently of the kernels (own
//! padding arithmetic, f64 accumulation), for property tests.
#![allow(dead_code, clippy::too_many_arguments)]

/// Padding for the reference: "valid", "same" or explicit (top, bottom, left, right).
#[derive(Clone, Copy, Debug)]
pub enum RefPad {
    Valid,
    Same,
    Explicit(usize, usize, usize, usize),
}

/// `(pad_before, out)` along one axis, or None if the window does not fit.
pub fn axis(
    inp: usize,
    k: usize,
    s: usize,
    d: usize,
    pad: RefPad,
    vertical: bool,
) -> Option<(usize, usize)> {
    let keff = (k - 1) * d + 1;
    match pad {
        RefPad::Same => {
            let out = inp.div_ceil(s);
            let total = ((out - 1) * s + keff).saturating_sub(inp);
            Some((total / 2, out))
        }
        RefPad::Valid => (inp >= keff).then(|| (0, (inp - keff) / s + 1)),
        RefPad::Explicit(t, b, l, r) => {
            let (p0, p1) = if vertical { (t, b) } else { (l, r) };
            let padded = inp + p0 + p1;
            (padded >= keff).then(|| (p0, (padded - keff) / s + 1))
        }
    }
}

pub struct ConvRef {
    pub out: Vec<f32>,
    pub oh: usize,
    pub ow: usize,
    pub pt: usize,
    pub pl: usize,
}

pub fn conv2d(
    x: &[f32],
    (n, h, w, c): (usize, usize, usize, usize),
    k: &[f32],
    (kh, kw, f): (usize, usize, usize),
    b: Option<&[f32]>,
    (sh, sw): (usize, usize),
    (dh, dw): (usize, usize),
    pad: RefPad,
) -> Option<ConvRef> {
    let (pt, oh) = axis(h, kh, sh, dh, pad, true)?;
    let (pl, ow) = axis(w, kw, sw, dw, pad, false)?;
    let mut out = vec![0.0f32; n * oh * ow * f];
    for ni in 0..n {
        for y in 0..oh {
            for xo in 0..ow {
                for fi in 0..f {
                    let mut s = b.map_or(0.0, |b| b[fi] as f64);
                    for a in 0..kh {
                        for bb in 0..kw {
                            let iy = (y * sh + a * dh) as isize - pt as isize;
                            let ix = (xo * sw + bb * dw) as isize - pl as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                continue;
                            }
                            for ci in 0..c {
                                let xv = x[((ni * h + iy as usize) * w + ix as usize) * c + ci];
                                let kv = k[((a * kw + bb) * c + ci) * f + fi];
                                s += xv as f64 * kv as f64;
                            }
                        }
                    }
                    out[((ni * oh + y) * ow + xo) * f + fi] = s as f32;
                }
            }
        }
    }
    Some(ConvRef {
        out,
        oh,
        ow,
        pt,
        pl,
    })
}

/// Reference conv gradients `(dx, dk, db)` given `dy`.
pub fn conv2d_grads(
    x: &[f32],
    (n, h, w, c): (usize, usize, usize, usize),
    k: &[f32],
    (kh, kw, f): (usize, usize, usize),
    dy: &[f32],
    (oh, ow): (usize, usize),
    (pt, pl): (usize, usize),
    (sh, sw): (usize, usize),
    (dh, dw): (usize, usize),
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut dx = vec![0.0f64; x.len()];
    let mut dk = vec![0.0f64; k.len()];
    let mut db = vec![0.0f64; f];
    for ni in 0..n {
        for y in 0..oh {
            for xo in 0..ow {
                for fi in 0..f {
                    let g = dy[((ni * oh + y) * ow + xo) * f + fi] as f64;
                    db[fi] += g;
                    for a in 0..kh {
                        for bb in 0..kw {
                            let iy = (y * sh + a * dh) as isize - pt as isize;
                            let ix = (xo * sw + bb * dw) as isize - pl as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                continue;
                            }
                            for ci in 0..c {
                                let xi = ((ni * h + iy as usize) * w + ix as usize) * c + ci;
                                let ki = ((a * kw + bb) * c + ci) * f + fi;
                                dx[xi] += g * k[ki] as f64;
                                dk[ki] += g * x[xi] as f64;
                            }
                        }
                    }
                }
            }
        }
    }
    let cast = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect();
    (cast(dx), cast(dk), cast(db))
}

/// Reference pooling: returns (out, oh, ow). `max` selects max (first maximum) or average over
/// real pixels.
pub fn pool2d(
    x: &[f32],
    (n, h, w, c): (usize, usize, usize, usize),
    (kh, kw): (usize, usize),
    (sh, sw): (usize, usize),
    pad: RefPad,
    max: bool,
) -> Option<(Vec<f32>, usize, usize)> {
    let (pt, oh) = axis(h, kh, sh, 1, pad, true)?;
    let (pl, ow) = axis(w, kw, sw, 1, pad, false)?;
    let mut out = vec![0.0f32; n * oh * ow * c];
    for ni in 0..n {
        for y in 0..oh {
            for xo in 0..ow {
                for ci in 0..c {
                    let mut best: Option<f32> = None;
                    let (mut sum, mut cnt) = (0.0f64, 0usize);
                    for a in 0..kh {
                        for b in 0..kw {
                            let iy = (y * sh + a) as isize - pt as isize;
                            let ix = (xo * sw + b) as isize - pl as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                continue;
                            }
                            let v = x[((ni * h + iy as usize) * w + ix as usize) * c + ci];
                            best = Some(best.map_or(v, |m: f32| if v > m { v } else { m }));
                            sum += v as f64;
                            cnt += 1;
                        }
                    }
                    let o = ((ni * oh + y) * ow + xo) * c + ci;
                    out[o] = if max {
                        best?
                    } else {
                        (sum / cnt as f64) as f32
                    };
                }
            }
        }
    }
    Some((out, oh, ow))
}

pub fn close(a: &[f32], b: &[f32], tol: f32) -> Result<(), String> {
    if a.len() != b.len() {
        return Err(format!("lengths {} vs {}", a.len(), b.len()));
    }
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if (x - y).abs() > tol * (1.0 + y.abs()) {
            return Err(format!("element {i}: {x} vs reference {y}"));
        }
    }
    Ok(())
}
