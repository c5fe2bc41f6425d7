//go:build ignore

// Command fit derives the polynomial coefficients in coeffs.go: a weighted least-squares fit on
// dense points, refined by Lawson's iteration towards the minimax (equal-ripple) relative error,
// against float64 references from package math. Run: go run fit.go
package main

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// problem: find c minimising max |(base(x) + Σ c_k φ_k(x) − f(x)) / f(x)| over x in [lo, hi].
type problem struct {
	name   string
	lo, hi float64
	terms  int
	phi    func(x float64, k int) float64
	base   func(x float64) float64
	f      func(x float64) float64
}

func (p problem) fit() []float64 {
	const pts = 4000
	xs := make([]float64, pts)
	for i := range xs {
		// Chebyshev-distributed points crowd the ends, where the error peaks.
		xs[i] = (p.lo+p.hi)/2 - (p.hi-p.lo)/2*math.Cos(math.Pi*(float64(i)+0.5)/pts)
	}
	w := make([]float64, pts)
	for i := range w {
		w[i] = 1
	}
	var c []float64
	for iter := 0; iter < 60; iter++ {
		a := mat.NewDense(pts, p.terms, nil)
		b := mat.NewVecDense(pts, nil)
		for i, x := range xs {
			s := math.Sqrt(w[i]) / math.Abs(p.f(x))
			for k := 0; k < p.terms; k++ {
				a.Set(i, k, s*p.phi(x, k))
			}
			b.SetVec(i, s*(p.f(x)-p.base(x)))
		}
		var qr mat.QR
		qr.Factorize(a)
		var sol mat.VecDense
		if err := qr.SolveVecTo(&sol, false, b); err != nil {
			panic(err)
		}
		c = make([]float64, p.terms)
		for k := range c {
			c[k] = sol.AtVec(k)
		}
		sum := 0.0
		for i, x := range xs {
			e := math.Abs(p.rel(c, x))
			w[i] *= e + 1e-300
			sum += w[i]
		}
		for i := range w {
			w[i] /= sum
		}
	}
	return c
}

func (p problem) rel(c []float64, x float64) float64 {
	v := p.base(x)
	for k, ck := range c {
		v += ck * p.phi(x, k)
	}
	return (v - p.f(x)) / p.f(x)
}

func (p problem) report(c []float64) {
	c32 := make([]float64, len(c))
	for i, v := range c {
		c32[i] = float64(float32(v))
	}
	worst := 0.0
	for i := 0; i <= 200000; i++ {
		x := p.lo + (p.hi-p.lo)*float64(i)/200000
		if x == 0 {
			continue
		}
		worst = max(worst, math.Abs(p.rel(c32, x)))
	}
	fmt.Printf("// %s on [%g, %g]: max relative error %.3g (float32 coefficients, exact arithmetic)\n", p.name, p.lo, p.hi, worst)
	for i, v := range c32 {
		fmt.Printf("\t%s%d = %.9g\n", p.name, i, v)
	}
}

// geluP is the p of t = 1/(1 + p·u) in the erfc tail.
const geluP = 0.3

func main() {
	pow := func(x float64, k int) float64 { return math.Pow(x, float64(k)) }
	zero := func(float64) float64 { return 0 }
	probs := []problem{
		{name: "expP", lo: -math.Ln2 / 2, hi: math.Ln2 / 2, terms: 6,
			phi:  func(r float64, k int) float64 { return pow(r, k+2) },
			base: func(r float64) float64 { return 1 + r }, f: math.Exp},
		{name: "sigP", lo: -math.Ln2 / 2, hi: math.Ln2 / 2, terms: 5,
			phi:  func(r float64, k int) float64 { return pow(r, k+2) },
			base: func(r float64) float64 { return 1 + r }, f: math.Exp},
		{name: "tanhP", lo: 0, hi: 0.625, terms: 5,
			phi:  func(x float64, k int) float64 { return pow(x, 2*k+3) },
			base: func(x float64) float64 { return x }, f: math.Tanh},
		{name: "erfP", lo: 0, hi: 0.5, terms: 6,
			phi:  func(a float64, k int) float64 { return pow(a, 2*k+1) },
			base: zero, f: math.Erf},
		// R(t) = erfc(u/√2)·e^(u²/2) with u = (1−t)/(p·t), for u in [0, 15].
		{name: "erfcR", lo: 1 / (1 + geluP*15), hi: 1, terms: 9,
			phi:  func(t float64, k int) float64 { return pow(t, k) },
			base: zero, f: func(t float64) float64 {
				u := (1 - t) / (geluP * t)
				return math.Erfc(u/math.Sqrt2) * math.Exp(u*u/2)
			}},
	}
	for _, p := range probs {
		p.report(p.fit())
	}
}
