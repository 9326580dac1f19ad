//! Interpolation of the loss over the run grid: a monotone cubic (PCHIP) in `ln D` for each
//! model size, then across model sizes in `ln N`. Shared by approach 2 (IsoFLOP profiles on a
//! grid of runs) and the surface method.

use super::data::ScalingPoint;

/// Monotone piecewise-cubic Hermite interpolant (Fritsch & Carlson 1980, with the
/// three-point end slopes of Moler's `pchip`): it never overshoots the data, so it adds no
/// spurious minima between runs.
#[derive(Clone, Debug)]
pub(crate) struct Pchip {
    x: Vec<f64>,
    y: Vec<f64>,
    m: Vec<f64>,
}

impl Pchip {
    /// `x` strictly increasing, at least 2 points, all finite; `None` otherwise.
    pub(crate) fn new(x: Vec<f64>, y: Vec<f64>) -> Option<Self> {
        let n = x.len();
        if n < 2
            || y.len() != n
            || x.windows(2).any(|w| w[1] <= w[0])
            || !x.iter().chain(&y).all(|v| v.is_finite())
        {
            return None;
        }
        let h: Vec<f64> = x.windows(2).map(|w| w[1] - w[0]).collect();
        let del: Vec<f64> = (0..n - 1).map(|k| (y[k + 1] - y[k]) / h[k]).collect();
        let mut m = vec![0.0; n];
        if n == 2 {
            m[0] = del[0];
            m[1] = del[0];
            return Some(Pchip { x, y, m });
        }
        for k in 1..n - 1 {
            if del[k - 1] * del[k] > 0.0 {
                let w1 = 2.0 * h[k] + h[k - 1];
                let w2 = h[k] + 2.0 * h[k - 1];
                m[k] = (w1 + w2) / (w1 / del[k - 1] + w2 / del[k]);
            }
        }
        let end = |h0: f64, h1: f64, d0: f64, d1: f64| {
            let s = ((2.0 * h0 + h1) * d0 - h0 * d1) / (h0 + h1);
            if s.signum() != d0.signum() || d0 == 0.0 {
                0.0
            } else if d0.signum() != d1.signum() && s.abs() > 3.0 * d0.abs() {
                3.0 * d0
            } else {
                s
            }
        };
        m[0] = end(h[0], h[1], del[0], del[1]);
        m[n - 1] = end(h[n - 2], h[n - 3], del[n - 2], del[n - 3]);
        Some(Pchip { x, y, m })
    }

    /// Value at `t`, `None` outside `[x₀, x_last]` (no extrapolation).
    pub(crate) fn eval(&self, t: f64) -> Option<f64> {
        let n = self.x.len();
        let tol = 1e-12 * (self.x[n - 1] - self.x[0]);
        if !(t >= self.x[0] - tol && t <= self.x[n - 1] + tol) {
            return None;
        }
        let t = t.clamp(self.x[0], self.x[n - 1]);
        let k = self.x.partition_point(|v| *v <= t).clamp(1, n - 1) - 1;
        let h = self.x[k + 1] - self.x[k];
        let s = (t - self.x[k]) / h;
        let (s2, s3) = (s * s, s * s * s);
        Some(
            (2.0 * s3 - 3.0 * s2 + 1.0) * self.y[k]
                + (s3 - 2.0 * s2 + s) * h * self.m[k]
                + (-2.0 * s3 + 3.0 * s2) * self.y[k + 1]
                + (s3 - s2) * h * self.m[k + 1],
        )
    }

    /// The interpolation interval.
    pub(crate) fn range(&self) -> (f64, f64) {
        (self.x[0], self.x[self.x.len() - 1])
    }
}

/// `ln L` as a function of `(ln N, ln D)` over the runs.
///
/// For each model size with runs at two or more token counts, `ln L` is a PCHIP in `ln D`
/// (no extrapolation beyond its smallest and largest `D`). At a point `(ln N, ln D)`, the
/// model sizes whose `D` range covers `ln D` are interpolated by a PCHIP in `ln N`; the
/// surface is defined only between the smallest and the largest of them.
#[derive(Clone, Debug)]
pub(crate) struct LossSurface {
    /// `(ln N, ln L over ln D)`, by increasing `N`.
    pub(crate) sizes: Vec<(f64, Pchip)>,
    /// Model sizes with runs at a single `D`, which the surface cannot use.
    pub(crate) single_d: Vec<f64>,
}

impl LossSurface {
    /// Builds the surface; runs of one `(N, D)` cell keep their lowest loss.
    pub(crate) fn new(points: &[ScalingPoint]) -> Self {
        let mut pts: Vec<(f64, f64, f64)> =
            points.iter().map(|p| (p.n, p.d.ln(), p.loss.ln())).collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.total_cmp(&b.2)));
        let mut sizes = Vec::new();
        let mut single_d = Vec::new();
        let mut i = 0;
        while i < pts.len() {
            let n = pts[i].0;
            let mut x: Vec<f64> = Vec::new();
            let mut y: Vec<f64> = Vec::new();
            while i < pts.len() && pts[i].0 == n {
                // Sorted by loss within a cell, so the first is the lowest.
                if x.last() != Some(&pts[i].1) {
                    x.push(pts[i].1);
                    y.push(pts[i].2);
                }
                i += 1;
            }
            match Pchip::new(x, y) {
                Some(p) => sizes.push((n.ln(), p)),
                None => single_d.push(n),
            }
        }
        LossSurface { sizes, single_d }
    }

    /// `ln L` of model size `i` at `ln D = v`.
    pub(crate) fn along_d(&self, i: usize, v: f64) -> Option<f64> {
        self.sizes[i].1.eval(v)
    }

    /// `ln L` at `(u, v) = (ln N, ln D)`, or `None` outside the surface's domain.
    pub(crate) fn eval(&self, u: f64, v: f64) -> Option<f64> {
        let mut xs = Vec::with_capacity(self.sizes.len());
        let mut ys = Vec::with_capacity(self.sizes.len());
        for (ln_n, p) in &self.sizes {
            if let Some(l) = p.eval(v) {
                xs.push(*ln_n);
                ys.push(l);
            }
        }
        Pchip::new(xs, ys)?.eval(u)
    }
}

/// A thin-plate spline interpolating `ln L` over scattered runs in `(ln N, ln D)`, defined
/// inside the convex hull of the runs (no extrapolation).
///
/// `f(x) = Σᵢ wᵢ φ(‖x − xᵢ‖) + c₀ + c₁ x₁ + c₂ x₂` with `φ(r) = r² ln r`, on coordinates
/// standardised to zero mean and unit variance, solving the usual `(n + 3)`-square system
/// (Duchon 1977). Used by the surface method when the runs do not form a grid (an IsoFLOP
/// design, published data read off a figure).
#[derive(Clone, Debug)]
pub(crate) struct ThinPlate {
    centers: Vec<(f64, f64)>,
    w: Vec<f64>,
    c: [f64; 3],
    /// `(mean u, sd u, mean v, sd v)`.
    scale: [f64; 4],
    /// Convex hull of the centres, counter-clockwise, standardised coordinates.
    hull: Vec<(f64, f64)>,
}

fn phi(r2: f64) -> f64 {
    if r2 <= 0.0 { 0.0 } else { 0.5 * r2 * r2.ln() }
}

fn cross(o: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
}

/// Convex hull (Andrew's monotone chain), counter-clockwise, without collinear points.
fn convex_hull(mut p: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    p.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    p.dedup();
    if p.len() < 3 {
        return p;
    }
    let mut lower: Vec<(f64, f64)> = Vec::new();
    for &q in &p {
        while lower.len() >= 2 && cross(lower[lower.len() - 2], lower[lower.len() - 1], q) <= 0.0 {
            lower.pop();
        }
        lower.push(q);
    }
    let mut upper: Vec<(f64, f64)> = Vec::new();
    for &q in p.iter().rev() {
        while upper.len() >= 2 && cross(upper[upper.len() - 2], upper[upper.len() - 1], q) <= 0.0 {
            upper.pop();
        }
        upper.push(q);
    }
    lower.pop();
    upper.pop();
    lower.extend(upper);
    lower
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting; `None` if singular.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let piv = (col..n).max_by(|x, y| a[*x][col].abs().total_cmp(&a[*y][col].abs()))?;
        if a[piv][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, piv);
        b.swap(col, piv);
        let (top, rest) = a.split_at_mut(col + 1);
        let pivot_row = &top[col];
        for (k, row) in rest.iter_mut().enumerate() {
            let f = row[col] / pivot_row[col];
            if f != 0.0 {
                for (v, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                    *v -= f * p;
                }
                b[col + 1 + k] -= f * b[col];
            }
        }
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|j| a[i][j] * x[j]).sum();
        x[i] = (b[i] - s) / a[i][i];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

impl ThinPlate {
    /// Fits the spline; runs of one `(N, D)` cell keep their lowest loss. `None` with fewer
    /// than three distinct cells, cells on one line, or a singular system.
    pub(crate) fn new(points: &[ScalingPoint]) -> Option<Self> {
        let mut cells: Vec<(f64, f64, f64)> =
            points.iter().map(|p| (p.n.ln(), p.d.ln(), p.loss.ln())).collect();
        cells.sort_by(|a, b| {
            a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.total_cmp(&b.2))
        });
        cells.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        let n = cells.len();
        if n < 3 {
            return None;
        }
        let mean =
            |f: &dyn Fn(&(f64, f64, f64)) -> f64| cells.iter().map(f).sum::<f64>() / n as f64;
        let (mu, mv) = (mean(&|c| c.0), mean(&|c| c.1));
        let (su, sv) = (mean(&|c| (c.0 - mu).powi(2)).sqrt(), mean(&|c| (c.1 - mv).powi(2)).sqrt());
        if !(su > 0.0 && sv > 0.0) {
            return None;
        }
        let centers: Vec<(f64, f64)> =
            cells.iter().map(|c| ((c.0 - mu) / su, (c.1 - mv) / sv)).collect();
        let hull = convex_hull(centers.clone());
        if hull.len() < 3 {
            return None;
        }
        let m = n + 3;
        let mut a = vec![vec![0.0; m]; m];
        let mut b = vec![0.0; m];
        for i in 0..n {
            for j in 0..n {
                let (dx, dy) = (centers[i].0 - centers[j].0, centers[i].1 - centers[j].1);
                a[i][j] = phi(dx * dx + dy * dy);
            }
            let row = [1.0, centers[i].0, centers[i].1];
            for (k, v) in row.into_iter().enumerate() {
                a[i][n + k] = v;
                a[n + k][i] = v;
            }
            b[i] = cells[i].2;
        }
        let x = solve(a, b)?;
        Some(ThinPlate {
            w: x[..n].to_vec(),
            c: [x[n], x[n + 1], x[n + 2]],
            centers,
            scale: [mu, su, mv, sv],
            hull,
        })
    }

    /// `ln L` at `(ln N, ln D)`, or `None` outside the runs' convex hull.
    pub(crate) fn eval(&self, u: f64, v: f64) -> Option<f64> {
        let p = ((u - self.scale[0]) / self.scale[1], (v - self.scale[2]) / self.scale[3]);
        let k = self.hull.len();
        for i in 0..k {
            if cross(self.hull[i], self.hull[(i + 1) % k], p) < -1e-9 {
                return None;
            }
        }
        let mut f = self.c[0] + self.c[1] * p.0 + self.c[2] * p.1;
        for (w, c) in self.w.iter().zip(&self.centers) {
            let (dx, dy) = (p.0 - c.0, p.1 - c.1);
            f += w * phi(dx * dx + dy * dy);
        }
        Some(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pchip_interpolates_and_preserves_monotonicity() {
        let x = vec![0.0, 1.0, 2.0, 3.0, 4.0];
        let y = vec![0.0, 0.1, 0.2, 2.0, 2.05];
        let p = Pchip::new(x.clone(), y.clone()).unwrap();
        for (xi, yi) in x.iter().zip(&y) {
            assert!((p.eval(*xi).unwrap() - yi).abs() < 1e-12);
        }
        // Monotone data give a monotone interpolant (no overshoot between knots).
        let mut prev = f64::NEG_INFINITY;
        for k in 0..=400 {
            let v = p.eval(4.0 * k as f64 / 400.0).unwrap();
            assert!(v >= prev - 1e-12 && v <= 2.05 + 1e-12, "at {k}: {v}");
            prev = v;
        }
        assert_eq!(p.eval(-0.1), None);
        assert_eq!(p.eval(4.1), None);
        // A cubic-free case: linear data are reproduced exactly.
        let p = Pchip::new(vec![0.0, 1.0, 3.0], vec![1.0, 3.0, 7.0]).unwrap();
        assert!((p.eval(2.0).unwrap() - 5.0).abs() < 1e-12);
        // Two points: a line. Bad input: None.
        assert!(
            (Pchip::new(vec![0.0, 2.0], vec![1.0, 2.0]).unwrap().eval(1.0).unwrap() - 1.5).abs()
                < 1e-15
        );
        assert!(Pchip::new(vec![0.0, 0.0], vec![1.0, 2.0]).is_none());
        assert!(Pchip::new(vec![0.0], vec![1.0]).is_none());
    }

    #[test]
    fn surface_reproduces_a_separable_law_on_a_grid() {
        // ln L = 2 − 0.3 ln N − 0.2 ln D is linear in both, which PCHIP reproduces exactly.
        let mut pts = Vec::new();
        for &n in &[1e4, 1e5, 1e6] {
            for &d in &[1e6, 1e7, 1e8] {
                let loss = (2.0 - 0.3 * f64::ln(n) - 0.2 * f64::ln(d)).exp();
                pts.push(ScalingPoint { run_id: String::new(), n, d, c: 6.0 * n * d, loss });
            }
        }
        pts.push(ScalingPoint { run_id: String::new(), n: 1e7, d: 1e6, c: 6e13, loss: 1.0 });
        let s = LossSurface::new(&pts);
        assert_eq!(s.sizes.len(), 3);
        assert_eq!(s.single_d, vec![1e7]);
        let (u, v) = (3e4f64.ln(), 3e7f64.ln());
        assert!((s.eval(u, v).unwrap() - (2.0 - 0.3 * u - 0.2 * v)).abs() < 1e-12);
        assert_eq!(s.eval(1e3f64.ln(), v), None);
        assert_eq!(s.eval(u, 1e9f64.ln()), None);
    }

    #[test]
    fn thin_plate_reproduces_planes_and_data_and_stays_in_the_hull() {
        // Scattered points on a plane ln L = 1 − 0.2 u − 0.1 v: the spline is exactly that plane.
        let mut pts = Vec::new();
        for (k, &(n, d)) in [(1e4, 1e7), (3e5, 2e6), (1e6, 1e9), (2e4, 5e8), (7e5, 3e7), (1e5, 1e8)]
            .iter()
            .enumerate()
        {
            let loss = (1.0 - 0.2 * f64::ln(n) - 0.1 * f64::ln(d)).exp();
            pts.push(ScalingPoint { run_id: format!("{k}"), n, d, c: 6.0 * n * d, loss });
        }
        let t = ThinPlate::new(&pts).unwrap();
        let (u, v) = (2e5f64.ln(), 5e7f64.ln());
        assert!((t.eval(u, v).unwrap() - (1.0 - 0.2 * u - 0.1 * v)).abs() < 1e-9);
        // A curved surface is interpolated exactly at the data.
        for p in pts.iter_mut() {
            p.loss *= (0.05 * (p.n.ln() - 11.0).powi(2)).exp();
        }
        let t = ThinPlate::new(&pts).unwrap();
        for p in &pts {
            assert!((t.eval(p.n.ln(), p.d.ln()).unwrap() - p.loss.ln()).abs() < 1e-9, "{p:?}");
        }
        // Outside the convex hull: undefined.
        assert_eq!(t.eval(1e3f64.ln(), 1e7f64.ln()), None);
        assert_eq!(t.eval(1e6f64.ln(), 1e6f64.ln()), None);
        // Collinear or too few points: no spline.
        assert!(ThinPlate::new(&pts[..2]).is_none());
        let line: Vec<ScalingPoint> = (0..5)
            .map(|i| {
                let n = 1e4 * 10f64.powi(i);
                ScalingPoint {
                    run_id: String::new(),
                    n,
                    d: 1e6 * n,
                    c: 6e6 * n * n,
                    loss: 3.0 - 0.1 * i as f64,
                }
            })
            .collect();
        assert!(ThinPlate::new(&line).is_none());
    }
}
