package main

import "testing"

func TestSpreadOf(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want spread
	}{
		{name: "empty", want: spread{}},
		{name: "one", in: []float64{5}, want: spread{Median: 5, Min: 5, Max: 5}},
		{name: "odd", in: []float64{3, 1, 2}, want: spread{Median: 2, Min: 1, Max: 3}},
		{name: "even", in: []float64{4, 1, 3, 2}, want: spread{Median: 2.5, Min: 1, Max: 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]float64(nil), tc.in...)
			if got := spreadOf(in); got.Median != tc.want.Median || got.Min != tc.want.Min || got.Max != tc.want.Max {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range in {
				if in[i] != tc.in[i] {
					t.Fatal("spreadOf modified its input")
				}
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	xs := make([]float64, 100)
	for i := range xs {
		xs[i] = float64(i + 1)
	}
	for _, tc := range []struct{ p, want float64 }{{50, 50}, {99, 99}, {100, 100}, {0, 1}} {
		if got := percentile(xs, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("empty: %v", got)
	}
}

func TestSpreadCV(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		cv   float64
	}{
		{name: "one figure", in: []float64{5}, cv: 0},
		{name: "equal", in: []float64{4, 4, 4}, cv: 0},
		// mean 10, sample sd sqrt(((−2)²+0+2²)/2) = 2
		{name: "three", in: []float64{8, 10, 12}, cv: 0.2},
		// mean 5, deviations ±1 and ±3: sd sqrt(20/3)
		{name: "four", in: []float64{2, 4, 6, 8}, cv: 0.5163977794943222},
		{name: "zero mean", in: []float64{-1, 1}, cv: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := spreadOf(tc.in)
			if !closeTo(got.CV, tc.cv) || got.N != len(tc.in) {
				t.Fatalf("CV %v N %d, want %v N %d", got.CV, got.N, tc.cv, len(tc.in))
			}
		})
	}
}
