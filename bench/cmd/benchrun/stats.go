package main

import (
	"slices"
)

// spread is the median, minimum and maximum of a set of figures.
type spread struct {
	Median, Min, Max float64
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
	return spread{Median: med, Min: s[0], Max: s[len(s)-1]}
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
