// Package chart draws the bar charts of the gateway's pages on the server,
// as inline SVG: no JavaScript, no inline style (the sites' CSP forbids
// both; colours and fonts are presentation attributes), readable at 360 px
// (viewBox, width 100%, the stylesheet's .chart rules).
//
// A Chart is drawn as a <figure>: its title as the visible <figcaption>,
// the SVG (role="img", named by its <title> and described by its <desc>,
// which the caller writes as a summary sentence), a legend and, under it,
// a <details> element "Show the numbers" with the same data as a table,
// for screen readers and for anyone who wants the exact values. Every bar is a <g> carrying data-label and data-values
// (the values in the order of the <svg>'s data-series), so tests read the
// numbers a chart shows without parsing geometry; a bar with values also
// has a <title> (a tooltip in browsers).
//
// Three shapes: bars per period side by side (Grouped, e.g. deposits and
// fees per day), stacked (Stacked, e.g. runs per hour by outcome) and
// horizontal bars for a ranking (Horizontal, e.g. the busiest workflows).
//
// Why not a library: the Go chart libraries (go-analyze/charts,
// go-echarts, gonum/plot) draw pictures, not documents: no per-bar data,
// no ARIA names, fonts and colours as inline style, and several hundred
// KiB of dependencies for three kinds of bars.
package chart

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"

	"github.com/meterflow/meterflow/gateway/internal/money"
)

// Kind is the shape of a chart.
type Kind int

// The shapes of a chart.
const (
	// Grouped draws each bar's series side by side.
	Grouped Kind = iota
	// Stacked draws each bar's series on top of each other (the first at
	// the bottom).
	Stacked
	// Horizontal draws one row per bar, its series stacked left to right,
	// the label on the left and the total on the right.
	Horizontal
)

// Series is one kind of value of every bar, e.g. "Fees" or "failed".
type Series struct {
	// Name is shown in the legend, the tooltips and the table's header;
	// Key is its machine name in data-series ("fees"); default Name.
	Name, Key string
	// Color fills the series' rectangles; Palette holds colours checked
	// for contrast against the console's backgrounds.
	Color string
}

// Bar is one bar: a period or a ranked item.
type Bar struct {
	// Label names the bar in data-label, tooltips and the table
	// ("2026-12-07", "2026-12-07 13:00 UTC", a workflow's slug).
	Label string
	// Tick is the x-axis label of a vertical bar (default Label); only
	// every Chart.TickEvery-th bar shows it.
	Tick string
	// Values has one value per Chart.Series, in their order. Values below
	// zero are drawn as zero (and kept in the data).
	Values []int64
}

// Total is the sum of the bar's values.
func (b Bar) Total() int64 {
	var t int64
	for _, v := range b.Values {
		t += v
	}
	return t
}

// Chart is one chart; its zero Format counts (1,234).
type Chart struct {
	// ID is unique on the page: it prefixes the ids of the title and the
	// description that name the SVG (aria-labelledby).
	ID string
	// Title names the chart (the SVG's <title>, the table's caption).
	Title string
	// Desc sums the chart up in a sentence for screen readers ("Deposits
	// $1,200.00 and fees $35.00 in the last 30 days").
	Desc   string
	Kind   Kind
	Series []Series
	Bars   []Bar
	// Format writes a value for people: Money or Count (the default).
	Format func(int64) string
	// TickEvery labels every n-th bar of a vertical chart on the x axis,
	// counted from the last; default: about five labels.
	TickEvery int
	// MarkedTicks labels exactly the bars that have a Tick instead (e.g.
	// some midnights of an hourly series).
	MarkedTicks bool
	// TableSkipsZero leaves bars whose values are all zero out of the table
	// (a month of hours is 720 rows); the table then says so.
	TableSkipsZero bool
}

// Money writes cents as the console writes money: $1,234.50.
func Money(cents int64) string { return money.Format(cents) }

// Count writes a number with thousands separators: 1,234.
func Count(n int64) string {
	if n < 0 {
		return "−" + money.Group(uint64(-n))
	}
	return money.Group(uint64(n))
}

// HTML draws the chart: the figure with the SVG and the table.
func (c Chart) HTML() template.HTML {
	if c.Format == nil {
		c.Format = Count
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<figure class="chart" id="%s"><figcaption>%s</figcaption>`, esc(c.ID), esc(c.Title))
	switch c.Kind {
	case Horizontal:
		c.horizontal(&b)
	default:
		c.vertical(&b)
	}
	c.legend(&b)
	c.table(&b)
	b.WriteString(`</figure>`)
	// Every text written above went through esc; the markup is ours.
	return template.HTML(b.String())
}

// svgOpen starts the SVG with its accessible name and description.
func (c Chart) svgOpen(b *strings.Builder, w, h int) {
	keys := make([]string, len(c.Series))
	for i, s := range c.Series {
		keys[i] = s.key()
	}
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" role="img" aria-labelledby="%s-title %s-desc" data-series="%s" font-family="system-ui, sans-serif" font-size="%d">`,
		w, h, esc(c.ID), esc(c.ID), esc(strings.Join(keys, " ")), fontSize)
	fmt.Fprintf(b, `<title id="%s-title">%s</title><desc id="%s-desc">%s</desc>`, esc(c.ID), esc(c.Title), esc(c.ID), esc(c.Desc))
}

// barOpen starts a bar's group with its data and, when it has values and
// room to point at, its tooltip.
func (c Chart) barOpen(b *strings.Builder, bar Bar, tooltip bool) {
	vals := make([]string, len(c.Series))
	for i := range c.Series {
		vals[i] = strconv.FormatInt(value(bar, i), 10)
	}
	fmt.Fprintf(b, `<g data-label="%s" data-values="%s">`, esc(bar.Label), strings.Join(vals, " "))
	if tooltip && bar.Total() != 0 {
		fmt.Fprintf(b, `<title>%s</title>`, esc(c.tooltip(bar)))
	}
}

// tooltip reads a bar: "2026-12-07: Deposits $12.00, Fees $1.50".
func (c Chart) tooltip(bar Bar) string {
	parts := make([]string, 0, len(c.Series))
	for i, s := range c.Series {
		parts = append(parts, s.Name+" "+c.Format(value(bar, i)))
	}
	if len(c.Series) == 1 {
		return bar.Label + ": " + c.Format(value(bar, 0))
	}
	return bar.Label + ": " + strings.Join(parts, ", ")
}

// legend names the series' colours (not for a single series: the title
// says what it is).
func (c Chart) legend(b *strings.Builder) {
	if len(c.Series) < 2 {
		return
	}
	b.WriteString(`<ul class="legend" aria-hidden="true">`)
	for _, s := range c.Series {
		fmt.Fprintf(b, `<li><svg viewBox="0 0 10 10" width="10" height="10"><rect width="10" height="10" fill="%s"/></svg>%s</li>`, esc(s.Color), esc(s.Name))
	}
	b.WriteString(`</ul>`)
}

// table writes the chart's data as a table inside a closed <details>.
func (c Chart) table(b *strings.Builder) {
	b.WriteString(`<details class="chart-data"><summary>Show the numbers</summary><table>`)
	fmt.Fprintf(b, `<caption class="muted">%s</caption><thead><tr><th scope="col"></th>`, esc(c.Title))
	for _, s := range c.Series {
		fmt.Fprintf(b, `<th scope="col">%s</th>`, esc(s.Name))
	}
	if len(c.Series) > 1 && c.Kind != Grouped {
		b.WriteString(`<th scope="col">Total</th>`)
	}
	b.WriteString(`</tr></thead><tbody>`)
	shown := 0
	for _, bar := range c.Bars {
		if c.TableSkipsZero && allZero(bar) {
			continue
		}
		shown++
		fmt.Fprintf(b, `<tr><th scope="row">%s</th>`, esc(bar.Label))
		for i := range c.Series {
			fmt.Fprintf(b, `<td>%s</td>`, esc(c.Format(value(bar, i))))
		}
		if len(c.Series) > 1 && c.Kind != Grouped {
			fmt.Fprintf(b, `<td>%s</td>`, esc(c.Format(bar.Total())))
		}
		b.WriteString(`</tr>`)
	}
	if shown == 0 {
		fmt.Fprintf(b, `<tr><td colspan="%d" class="empty">Nothing to show.</td></tr>`, len(c.Series)+2)
	}
	b.WriteString(`</tbody></table>`)
	if c.TableSkipsZero && shown > 0 && shown < len(c.Bars) {
		b.WriteString(`<p class="muted">Rows without any value are left out.</p>`)
	}
	b.WriteString(`</details>`)
}

func (s Series) key() string {
	if s.Key != "" {
		return s.Key
	}
	return s.Name
}

// value is bar's i-th value, 0 when missing.
func value(bar Bar, i int) int64 {
	if i < len(bar.Values) {
		return bar.Values[i]
	}
	return 0
}

func allZero(bar Bar) bool {
	for _, v := range bar.Values {
		if v != 0 {
			return false
		}
	}
	return true
}

// esc escapes text for HTML and SVG, in content and in quoted attributes.
func esc(s string) string { return template.HTMLEscapeString(s) }
