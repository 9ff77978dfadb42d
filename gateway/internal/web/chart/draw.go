package chart

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// Geometry of the drawings, in viewBox units. At 360 px wide a vertical
// chart is drawn at 0.9 scale: its 11-unit text is 10 px.
const (
	width      = 400
	height     = 200
	fontSize   = 11
	marginL    = 66 // the y axis' labels ("$1,000.00")
	marginR    = 8
	marginT    = 10
	marginB    = 22 // the x axis' labels
	rowHeight  = 22 // one bar of a horizontal chart
	labelWidth = 118
	valueWidth = 74 // the total right of a horizontal bar
	maxLabel   = 13 // runes of a horizontal bar's label; longer ones end in …
)

// vertical draws Grouped and Stacked charts.
func (c Chart) vertical(b *strings.Builder) {
	c.svgOpen(b, width, height)
	plotW, plotH := float64(width-marginL-marginR), float64(height-marginT-marginB)
	var peak int64
	for _, bar := range c.Bars {
		if c.Kind == Stacked {
			peak = max(peak, positiveTotal(bar))
		} else {
			for _, v := range bar.Values {
				peak = max(peak, v)
			}
		}
	}
	step := niceStep(peak, 4)
	top := float64(step * 4)
	y := func(v int64) float64 { return marginT + plotH - float64(max(v, 0))/top*plotH }
	// The y axis: four steps, grid lines behind the bars; a chart without
	// any value says so over its zero line instead of inventing a scale.
	b.WriteString(`<g aria-hidden="true">`)
	if peak == 0 {
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%s" y2="%s" stroke="%s" stroke-width="1"/>`, marginL, width-marginR, num(y(0)), num(y(0)), GridColor)
		fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="middle" dominant-baseline="middle" fill="%s">Nothing to show.</text>`, num(marginL+plotW/2), num(marginT+plotH/2), TextColor)
	}
	for i := int64(0); i <= 4 && peak > 0; i++ {
		yy := y(i * step)
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%s" y2="%s" stroke="%s" stroke-width="1"/>`, marginL, width-marginR, num(yy), num(yy), GridColor)
		fmt.Fprintf(b, `<text x="%d" y="%s" text-anchor="end" dominant-baseline="middle" fill="%s">%s</text>`, marginL-4, num(yy), TextColor, esc(c.Format(i*step)))
	}
	b.WriteString(`</g>`)
	n := len(c.Bars)
	if n == 0 {
		b.WriteString(`</svg>`)
		return
	}
	slot := plotW / float64(n)
	barW := slot * 0.8
	if slot < 3 {
		barW = slot // dense series (hours of a month): bars touch
	}
	// Bars too thin to point at (hours of a month) get no tooltip and are
	// drawn as one stepped area per series after the bars' (empty) data
	// groups: no seams between hairline bars, the table has the numbers,
	// and the page stays light.
	dense := barW < 4
	for i, bar := range c.Bars {
		c.barOpen(b, bar, !dense)
		if !dense {
			c.bar(b, bar, marginL+float64(i)*slot+(slot-barW)/2, barW, y)
		}
		b.WriteString(`</g>`)
	}
	if dense {
		c.areas(b, slot, y)
	}
	c.ticks(b, slot)
	b.WriteString(`</svg>`)
}

// bar draws one bar's rectangles from x, w wide.
func (c Chart) bar(b *strings.Builder, bar Bar, x0, barW float64, y func(int64) float64) {
	base := int64(0)
	for s := range c.Series {
		v := max(value(bar, s), 0)
		if v == 0 {
			continue
		}
		x, w, lo, hi := x0, barW, int64(0), v
		if c.Kind == Stacked {
			lo, hi = base, base+v
			base += v
		} else {
			w = barW / float64(len(c.Series))
			x += float64(s) * w
		}
		rect(b, x, y(hi), w, y(lo)-y(hi), c.Series[s].Color)
	}
}

// areas draws each series of a dense chart as one stepped area: along
// the tops of its bars left to right, back along their bottoms. Series
// of a Grouped dense chart start at zero and overlap (use Stacked).
func (c Chart) areas(b *strings.Builder, slot float64, y func(int64) float64) {
	n := len(c.Bars)
	lo, hi := make([]float64, n), make([]float64, n)
	base := make([]int64, n)
	for s := range c.Series {
		empty := true
		for i, bar := range c.Bars {
			v := max(value(bar, s), 0)
			from := int64(0)
			if c.Kind == Stacked {
				from = base[i]
				base[i] += v
			}
			lo[i], hi[i] = y(from), y(from+v)
			empty = empty && v == 0
		}
		if empty {
			continue
		}
		var d strings.Builder
		fmt.Fprintf(&d, "M%d %s", marginL, num(hi[0]))
		for i := range n {
			fmt.Fprintf(&d, "H%s", num(marginL+float64(i+1)*slot))
			if i+1 < n && hi[i+1] != hi[i] {
				fmt.Fprintf(&d, "V%s", num(hi[i+1]))
			}
		}
		fmt.Fprintf(&d, "V%s", num(lo[n-1]))
		for i := n - 1; i >= 0; i-- {
			fmt.Fprintf(&d, "H%s", num(marginL+float64(i)*slot))
			if i > 0 && lo[i-1] != lo[i] {
				fmt.Fprintf(&d, "V%s", num(lo[i-1]))
			}
		}
		fmt.Fprintf(b, `<path d="%sZ" fill="%s" aria-hidden="true"/>`, d.String(), esc(c.Series[s].Color))
	}
}

// ticks labels every TickEvery-th bar on the x axis, counted from the
// last one (today, this hour), kept inside the drawing.
func (c Chart) ticks(b *strings.Builder, slot float64) {
	n := len(c.Bars)
	every := c.TickEvery
	if every <= 0 {
		every = max(1, (n+4)/5)
	}
	if c.MarkedTicks {
		every = 1
	}
	b.WriteString(`<g aria-hidden="true">`)
	for i := n - 1; i >= 0; i -= every {
		t := c.Bars[i].Tick
		if c.MarkedTicks && t == "" {
			continue
		}
		if t == "" {
			t = c.Bars[i].Label
		}
		x := marginL + (float64(i)+0.5)*slot
		anchor := "middle"
		switch {
		case x-marginL < 24:
			anchor, x = "start", marginL
		case width-marginR-x < 24:
			anchor, x = "end", width-marginR
		}
		fmt.Fprintf(b, `<text x="%s" y="%d" text-anchor="%s" fill="%s">%s</text>`, num(x), height-6, anchor, TextColor, esc(t))
	}
	b.WriteString(`</g>`)
}

// horizontal draws one row per bar: label, stacked bar, total.
func (c Chart) horizontal(b *strings.Builder) {
	h := max(len(c.Bars), 1)*rowHeight + 8
	c.svgOpen(b, width, h)
	var peak int64
	for _, bar := range c.Bars {
		peak = max(peak, positiveTotal(bar))
	}
	plotW := float64(width - labelWidth - valueWidth)
	scale := 0.0
	if peak > 0 {
		scale = plotW / float64(peak)
	}
	for i, bar := range c.Bars {
		top := float64(4 + i*rowHeight)
		mid := top + rowHeight/2
		c.barOpen(b, bar, true)
		fmt.Fprintf(b, `<text x="%d" y="%s" text-anchor="end" dominant-baseline="middle" fill="%s" aria-hidden="true">%s</text>`, labelWidth-6, num(mid), TextColor, esc(shorten(bar.Label)))
		x := float64(labelWidth)
		for s := range c.Series {
			v := max(value(bar, s), 0)
			if v == 0 {
				continue
			}
			rect(b, x, top+4, float64(v)*scale, rowHeight-8, c.Series[s].Color)
			x += float64(v) * scale
		}
		fmt.Fprintf(b, `<text x="%s" y="%s" dominant-baseline="middle" fill="%s" aria-hidden="true">%s</text>`, num(x+4), num(mid), TextColor, esc(c.Format(bar.Total())))
		b.WriteString(`</g>`)
	}
	if len(c.Bars) == 0 {
		fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle" dominant-baseline="middle" fill="%s">Nothing to show.</text>`, width/2, h/2, TextColor)
	}
	b.WriteString(`</svg>`)
}

// rect writes one filled rectangle with a white hairline edge, so stacked
// neighbours stay apart.
func rect(b *strings.Builder, x, y, w, h float64, color string) {
	fmt.Fprintf(b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s" stroke="#ffffff" stroke-width="0.5"/>`, num(x), num(y), num(w), num(h), esc(color))
}

// niceStep is the smallest 1, 2 or 5 times a power of ten whose steps
// multiples reach peak (at least 1).
func niceStep(peak int64, steps int64) int64 {
	if peak <= 0 {
		return 1
	}
	raw := (peak + steps - 1) / steps
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if m*p >= raw {
				return m * p
			}
		}
		if p > math.MaxInt64/100 {
			return raw
		}
	}
}

func positiveTotal(bar Bar) int64 {
	var t int64
	for _, v := range bar.Values {
		t += max(v, 0)
	}
	return t
}

// shorten cuts a label to maxLabel runes.
func shorten(s string) string {
	if utf8.RuneCountInString(s) <= maxLabel {
		return s
	}
	return string([]rune(s)[:maxLabel-1]) + "…"
}

// num writes a coordinate with at most two decimals.
func num(f float64) string {
	s := fmt.Sprintf("%.2f", f)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		return "0"
	}
	return s
}
