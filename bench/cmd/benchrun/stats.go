package main

import (
	"math"
	"slices"
)

// spread is the median, minimum and maximum of a set of figures, with
// their coefficient of variation.
type spread struct {
	Median, Min, Max float64
	// CV is the sample standard deviation (n-1) over the mean: 0.03 is
	// 3 %. 0 for fewer than two figures or a zero mean (no spread known).
	CV float64
	N  int // how many figures
}

// spreadOf computes the spread of xs; the zero spread for no figures. The
// median of an even count is the mean of the two middle values.
func spreadOf(xs []float64) spread {
	if len(xs) == 0 {
		return spread{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	mid := len(s) / 2
	med := s[mid]
	if len(s)%2 == 0 {
		med = (s[mid-1] + s[mid]) / 2
	}
	return spread{Median: med, Min: s[0], Max: s[len(s)-1], CV: cv(s), N: len(s)}
}

// cv is the coefficient of variation of xs: the sample standard deviation
// (Bessel's n-1, the rounds being a sample of what the machine does) over
// the mean. 0 for fewer than two figures or a mean of 0.
func cv(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	mean := sum / float64(len(xs))
	if mean == 0 {
		return 0
	}
	var sq float64
	for _, x := range xs {
		sq += (x - mean) * (x - mean)
	}
	return math.Sqrt(sq/float64(len(xs)-1)) / math.Abs(mean)
}

// percentile returns the p-th percentile (0..100) of sorted values by the
// nearest-rank method.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}
