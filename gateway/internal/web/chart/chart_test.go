package chart

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var moneySeries = []Series{{Name: "Deposits", Key: "deposits", Color: Blue}, {Name: "Fees", Key: "fees", Color: Amber}}

func TestChartHTML(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		c    Chart
		// want: substrings of the output; not: substrings it must not hold.
		want, not []string
		bars      []Bar // what Read returns
	}{
		{
			name: "grouped money per day",
			c: Chart{ID: "money", Title: "Deposits and fees per day", Desc: "Deposits $12.00, fees $1.50.", Kind: Grouped, Series: moneySeries, Format: Money,
				Bars: []Bar{{Label: "2026-12-06", Tick: "Dec 6", Values: []int64{0, 0}}, {Label: "2026-12-07", Tick: "Dec 7", Values: []int64{1200, 150}}}},
			want: []string{
				`role="img" aria-labelledby="money-title money-desc" data-series="deposits fees"`,
				`<title id="money-title">Deposits and fees per day</title><desc id="money-desc">Deposits $12.00, fees $1.50.</desc>`,
				`<g data-label="2026-12-06" data-values="0 0"></g>`,
				`<g data-label="2026-12-07" data-values="1200 150"><title>2026-12-07: Deposits $12.00, Fees $1.50</title>`,
				`fill="#2f5bd3"`, `fill="#8a5a00"`,
				`>Dec 7</text>`, `>$0.00</text>`,
				`<th scope="col">Deposits</th><th scope="col">Fees</th></tr>`, // no total column: grouped
				`<tr><th scope="row">2026-12-07</th><td>$12.00</td><td>$1.50</td></tr>`,
				`<summary>Show the numbers</summary>`,
				`<ul class="legend" aria-hidden="true">`,
			},
			bars: []Bar{{Label: "2026-12-06", Values: []int64{0, 0}}, {Label: "2026-12-07", Values: []int64{1200, 150}}},
		},
		{
			name: "stacked runs, zero hours left out of the table",
			c: Chart{ID: "runs", Title: "Runs per hour", Kind: Stacked, Series: RunOutcomes, TableSkipsZero: true,
				Bars: []Bar{{Label: "10:00", Values: []int64{0, 0, 0, 0}}, {Label: "11:00", Values: []int64{1, 0, 1200, 3}}}},
			want: []string{
				`data-series="queued running succeeded failed"`,
				`<g data-label="10:00" data-values="0 0 0 0"></g>`,
				`<g data-label="11:00" data-values="1 0 1200 3"><title>11:00: Queued 1, Running 0, Succeeded 1,200, Failed 3</title>`,
				`<td>1,204</td></tr>`, // the total column
				`Rows without any value are left out.`,
			},
			not:  []string{`<th scope="row">10:00</th>`},
			bars: []Bar{{Label: "10:00", Values: []int64{0, 0, 0, 0}}, {Label: "11:00", Values: []int64{1, 0, 1200, 3}}},
		},
		{
			name: "horizontal ranking with a long, hostile label",
			c: Chart{ID: "busiest", Title: "Busiest workflows", Kind: Horizontal, Series: RunOutcomes[2:],
				Bars: []Bar{{Label: `<script>alert("x")</script>-a-very-long-slug`, Values: []int64{7, 2}}, {Label: "b", Values: []int64{1, 0}}}},
			want: []string{
				`<g data-label="&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;-a-very-long-slug" data-values="7 2">`,
				`>&lt;script&gt;aler…</text>`, // shortened on the drawing
				`>9</text>`,                   // the bar's total
			},
			not:  []string{`<script>`},
			bars: []Bar{{Label: `<script>alert("x")</script>-a-very-long-slug`, Values: []int64{7, 2}}, {Label: "b", Values: []int64{1, 0}}},
		},
		{
			name: "only zeros: no invented scale",
			c:    Chart{ID: "zeros", Title: "Spend", Series: moneySeries, Format: Money, Bars: []Bar{{Label: "d1", Values: []int64{0, 0}}}},
			want: []string{`>Nothing to show.</text>`, `<g data-label="d1" data-values="0 0"></g>`},
			not:  []string{`>$0.01</text>`},
			bars: []Bar{{Label: "d1", Values: []int64{0, 0}}},
		},
		{
			name: "no bars",
			c:    Chart{ID: "empty", Title: "Nothing", Kind: Horizontal, Series: RunOutcomes},
			want: []string{`>Nothing to show.</text>`, `<td colspan="6" class="empty">Nothing to show.</td>`},
		},
		{
			name: "one series: no legend, the tooltip names the value only",
			c: Chart{ID: "spend", Title: "Spend per day", Series: []Series{{Name: "Spend", Color: Blue}}, Format: Money,
				Bars: []Bar{{Label: "2026-12-07", Values: []int64{-5}}, {Label: "2026-12-08", Values: []int64{250}}}},
			want: []string{`data-series="Spend"`, `<title>2026-12-08: $2.50</title>`, `<g data-label="2026-12-07" data-values="-5"><title>2026-12-07: −$0.05</title></g>`},
			not:  []string{`class="legend"`},
			bars: []Bar{{Label: "2026-12-07", Values: []int64{-5}}, {Label: "2026-12-08", Values: []int64{250}}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := string(tc.c.HTML())
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("missing %s\nin %s", w, out)
				}
			}
			for _, n := range append(tc.not, "style=", "<script", "javascript:") {
				if strings.Contains(out, n) {
					t.Errorf("holds %q: %s", n, out)
				}
			}
			if m := regexp.MustCompile(` on[a-z]+=`).FindString(out); m != "" {
				t.Errorf("holds an event handler %q", m)
			}
			d, err := Read([]byte("<p>before</p>"+out+"<p>after</p>"), tc.c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Bars) != len(tc.bars) {
				t.Fatalf("read %d bars, want %d", len(d.Bars), len(tc.bars))
			}
			for i, b := range tc.bars {
				if d.Bars[i].Label != b.Label || !slices.Equal(d.Bars[i].Values, b.Values) {
					t.Errorf("bar %d = %+v, want %+v", i, d.Bars[i], b)
				}
			}
		})
	}
}

// TestBarsStayInside checks the geometry: every rectangle lies in the
// plot, and a month of hours stays light (one path per series).
func TestBarsStayInside(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 30, 720} {
		bars := make([]Bar, n)
		for i := range bars {
			bars[i] = Bar{Label: "h" + Count(int64(i)), Values: []int64{int64(i % 3), 0, int64(i % 7), int64(i%2) + 1000}}
		}
		for _, kind := range []Kind{Grouped, Stacked} {
			out := string(Chart{ID: "h", Title: "Hours", Kind: kind, Series: RunOutcomes, Bars: bars, TableSkipsZero: true}.HTML())
			for _, r := range regexp.MustCompile(`<rect x="([0-9.]+)" y="([0-9.]+)" width="([0-9.]+)" height="([0-9.]+)"`).FindAllStringSubmatch(out, -1) {
				x, y, w, h := atof(t, r[1]), atof(t, r[2]), atof(t, r[3]), atof(t, r[4])
				if x < marginL-0.01 || x+w > width-marginR+0.01 || y < marginT-0.01 || y+h > height-marginB+0.01 || w <= 0 || h <= 0 {
					t.Fatalf("%d bars: rect outside the plot: %v", n, r[0])
				}
			}
			if areas := strings.Count(out, `<path d="M66 `); (n == 720) != (areas == 3) || strings.Contains(out, "<rect x=") == (n == 720) {
				t.Errorf("%d bars, %v: %d areas; a month of hours is drawn as one area per series with values (running has none), fewer bars as rectangles", n, kind, areas)
			}
			if n == 720 && len(out) > 200_000 { // every hour with runs of three outcomes: ~180 KB, ~30 KB gzipped
				t.Errorf("a month of hours takes %d bytes; keep the page light", len(out))
			}
			if d, err := Read([]byte(out), "h"); err != nil || len(d.Bars) != n {
				t.Fatalf("%d bars: read %d, %v", n, len(d.Bars), err)
			}
		}
	}
}

func TestNiceStep(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ peak, want int64 }{
		{0, 1}, {-3, 1}, {1, 1}, {4, 1}, {5, 2}, {8, 2}, {9, 5}, {20, 5}, {21, 10}, {1200, 500}, {1201, 500}, {2001, 1000}, {99_999, 50_000},
	} {
		if got := niceStep(tc.peak, 4); got != tc.want {
			t.Errorf("niceStep(%d) = %d, want %d", tc.peak, got, tc.want)
		}
		if got := niceStep(tc.peak, 4); got*4 < tc.peak {
			t.Errorf("niceStep(%d)*4 = %d does not reach the peak", tc.peak, got*4)
		}
	}
}

func TestReadRefuses(t *testing.T) {
	t.Parallel()
	good := string(Chart{ID: "a", Title: "A", Series: moneySeries, Bars: []Bar{{Label: "x", Values: []int64{1, 2}}}}.HTML())
	for name, page := range map[string]string{
		"missing":      `<p>no chart</p>`,
		"other id":     strings.Replace(good, `id="a"`, `id="b"`, 1),
		"broken":       strings.Replace(good, `</g>`, ``, 1),
		"short values": strings.Replace(good, `data-values="1 2"`, `data-values="1"`, 1),
	} {
		if _, err := Read([]byte(page), "a"); err == nil {
			t.Errorf("%s: Read accepted %s", name, page)
		}
	}
}

func atof(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
