package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
)

// Chart geometry, in SVG user units.
const (
	svgWidth    = 1000.0
	svgLeft     = 80.0 // room for the y-axis labels
	svgRight    = 20.0
	svgLegendH  = 50.0
	svgPanelH   = 240.0
	svgPanelGap = 80.0 // x labels of the panel above plus the next title
)

// targetColour gives each target a fixed colour across charts.
func targetColour(t string) string {
	switch t {
	case targetDirect:
		return "#9e9e9e"
	case targetForwarder:
		return "#9467bd"
	case targetFerryAuto:
		return "#1f77b4"
	case targetFerryPool:
		return "#17becf"
	case targetFerryB:
		return "#bcbd22"
	case targetNginx:
		return "#2ca02c"
	case targetHAProxy:
		return "#d62728"
	case targetFerryMetrics:
		return "#aec7e8"
	case targetFerryAccessLog:
		return "#8c564b"
	case targetFerryHealth:
		return "#c49c94"
	case targetNginxAccessLog:
		return "#98df8a"
	case targetFerryH2Up:
		return "#393b79"
	case targetHAProxyH2Up:
		return "#ff9896"
	default:
		return "#ff7f0e"
	}
}

// panel is one bar chart: a value per case and target.
type panel struct {
	title string
	unit  string
	value func(cellSummary) float64
	fmt   func(float64) string
}

// renderSVG draws median RPS and p99 per case and target as grouped bars.
func renderSVG(w io.Writer, r *report) error {
	panels := []panel{
		{title: "Requests per second (median; higher is better)", value: func(s cellSummary) float64 { return s.RPS.Median }, fmt: fmtCount},
		{title: "p99 latency in ms (median over rounds; lower is better)", unit: "ms",
			value: func(s cellSummary) float64 { return float64(s.P99) / 1e6 },
			fmt:   func(v float64) string { return fmt.Sprintf("%.2f", v) }},
	}
	height := svgLegendH + float64(len(panels))*(svgPanelH+svgPanelGap)
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	writeLegend(&b, r.Targets)
	for i, p := range panels {
		top := svgLegendH + float64(i)*(svgPanelH+svgPanelGap) + 20
		writePanel(&b, r, p, top)
	}
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

func writeLegend(b *bytes.Buffer, targets []string) {
	x := svgLeft
	for _, t := range targets {
		fmt.Fprintf(b, `<rect x="%.0f" y="15" width="14" height="14" fill="%s"/>`, x, targetColour(t))
		fmt.Fprintf(b, `<text x="%.0f" y="27">%s</text>`+"\n", x+20, esc(t))
		x += 40 + 8*float64(len(t))
	}
}

func writePanel(b *bytes.Buffer, r *report, p panel, top float64) {
	plotW := svgWidth - svgLeft - svgRight
	base := top + svgPanelH
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" font-weight="bold">%s</text>`+"\n", svgLeft, top-6, esc(p.title))
	var maxV float64
	for _, c := range r.Cases {
		for _, t := range r.Targets {
			if s, ok := r.cell(c.ID, t).summary(); ok {
				maxV = max(maxV, p.value(s))
			}
		}
	}
	yMax := niceCeil(maxV)
	for i := 0; i <= 4; i++ {
		v := yMax * float64(i) / 4
		y := base - svgPanelH*float64(i)/4
		fmt.Fprintf(b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#ddd"/>`, svgLeft, y, svgWidth-svgRight, y)
		fmt.Fprintf(b, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`+"\n", svgLeft-6, y+4, esc(p.fmt(v)))
	}
	if len(r.Cases) == 0 || len(r.Targets) == 0 {
		return
	}
	groupW := plotW / float64(len(r.Cases))
	barW := groupW * 0.8 / float64(len(r.Targets))
	for gi, c := range r.Cases {
		gx := svgLeft + float64(gi)*groupW + groupW*0.1
		for ti, t := range r.Targets {
			s, ok := r.cell(c.ID, t).summary()
			if !ok {
				continue
			}
			v := p.value(s)
			h := svgPanelH * v / yMax
			x := gx + float64(ti)*barW
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s %s</title></rect>`+"\n",
				x, base-h, barW*0.9, h, targetColour(t), esc(t), esc(c.ID), esc(p.fmt(v)), esc(p.unit))
		}
		fmt.Fprintf(b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`+"\n", gx+groupW*0.4, base+18, esc(c.ID))
	}
	fmt.Fprintf(b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#333"/>`+"\n", svgLeft, base, svgWidth-svgRight, base)
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (1 for v <= 0).
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p*(1+1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// esc escapes text for SVG content and attributes.
func esc(s string) string {
	var sb strings.Builder
	_ = xml.EscapeText(&sb, []byte(s)) // a strings.Builder never fails
	return sb.String()
}
