package webtest

import (
	"testing"

	"github.com/meterflow/meterflow/gateway/internal/web/chart"
)

// Chart is what a chart of a page (internal/web/chart) shows, read from
// its data attributes: the series' keys and every bar's label and values
// in the series' order.
type Chart struct {
	Series []string
	Bars   []ChartBar
}

// ChartBar is one bar of a Chart.
type ChartBar struct {
	Label  string
	Values []int64
}

// Value is the value of series key in the bar labelled label; ok is
// false when the chart has no such bar or series.
func (c Chart) Value(label, key string) (v int64, ok bool) {
	for _, b := range c.Bars {
		if b.Label != label {
			continue
		}
		for i, k := range c.Series {
			if k == key && i < len(b.Values) {
				return b.Values[i], true
			}
		}
	}
	return 0, false
}

// ReadChart returns the chart with element id on the page; the test fails
// when it is missing or its SVG is not well-formed.
func ReadChart(t testing.TB, body, id string) Chart {
	t.Helper()
	d, err := chart.Read([]byte(body), id)
	if err != nil {
		t.Fatal(err)
	}
	out := Chart{Series: d.Series, Bars: make([]ChartBar, len(d.Bars))}
	for i, b := range d.Bars {
		out.Bars[i] = ChartBar{Label: b.Label, Values: b.Values}
	}
	return out
}
