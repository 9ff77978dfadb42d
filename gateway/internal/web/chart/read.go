package chart

import (
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Drawn is what a drawn chart says in its data attributes: the series'
// keys and every bar's label and values.
type Drawn struct {
	Series []string
	Bars   []Bar
}

var (
	figureRe = regexp.MustCompile(`(?s)<figure class="chart" id="([^"]*)">.*?</figure>`)
	seriesRe = regexp.MustCompile(`<svg [^>]*data-series="([^"]*)"`)
	barRe    = regexp.MustCompile(`<g data-label="([^"]*)" data-values="([^"]*)">`)
)

// Read finds the chart with id in page (an HTML page or a fragment) and
// returns the numbers it shows, as tests check them against their source.
// It fails when the chart is missing or its SVG is not well-formed XML.
func Read(page []byte, id string) (Drawn, error) {
	var fig string
	for _, m := range figureRe.FindAllSubmatch(page, -1) {
		if string(m[1]) == id {
			fig = string(m[0])
			break
		}
	}
	if fig == "" {
		return Drawn{}, fmt.Errorf("chart: no chart %q on the page", id)
	}
	if err := wellFormed(fig); err != nil {
		return Drawn{}, fmt.Errorf("chart %q: %w", id, err)
	}
	var d Drawn
	m := seriesRe.FindStringSubmatch(fig)
	if m == nil {
		return Drawn{}, fmt.Errorf("chart %q: no data-series", id)
	}
	d.Series = strings.Fields(html.UnescapeString(m[1]))
	for _, m := range barRe.FindAllStringSubmatch(fig, -1) {
		bar := Bar{Label: html.UnescapeString(m[1])}
		for _, f := range strings.Fields(m[2]) {
			v, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return Drawn{}, fmt.Errorf("chart %q: bar %q: %w", id, bar.Label, err)
			}
			bar.Values = append(bar.Values, v)
		}
		if len(bar.Values) != len(d.Series) {
			return Drawn{}, fmt.Errorf("chart %q: bar %q has %d values for %d series", id, bar.Label, len(bar.Values), len(d.Series))
		}
		d.Bars = append(d.Bars, bar)
	}
	return d, nil
}

// wellFormed parses s as XML to its end.
func wellFormed(s string) error {
	dec := xml.NewDecoder(strings.NewReader(s))
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
